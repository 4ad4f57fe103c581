"""Verification of an artifact's signatures and, on request, of its provenance chain.

For each signature referrer of a manifest whose digest hubsnap computed itself: the DSSE
signature is checked against the keys the policy trusts for that repository before anything
in the payload is read; then an OMS statement must cover exactly the manifest's files and a
provenance statement must name exactly that manifest digest. The referrer's annotations are
only labels: a referrer annotated ``oms`` that carries provenance is rejected.

The chain walk follows each provenance's ``hubsnap:parent`` link: the parent manifest is
looked up by digest in the child's repository first, then at the URI the link records; the
parent must carry a verifying provenance whose envelope digest is the one the child recorded.
The walk stops at a provenance with no parent (the root), fails on a cycle, a missing parent
or a link deeper than ``maxDepth``, and names the broken link.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hubsnap.digest import Digest
from hubsnap.errors import HubsnapError, IntegrityError
from hubsnap.models import Manifest
from hubsnap.oci.repository import Repository
from hubsnap.signing.attach import SignatureReferrer, scan_signature_referrers
from hubsnap.signing.diffreport import DIFF_PREDICATE_TYPE
from hubsnap.signing.dsse import open_envelope
from hubsnap.signing.keys import PublicKey
from hubsnap.signing.kinds import CheckOutcome, SignatureKind
from hubsnap.signing.oms import OMS_PREDICATE_TYPE, OmsStatement, check_oms_statement
from hubsnap.signing.policy import PolicyLevel, Requirements, TrustPolicy
from hubsnap.signing.provenance import (
    PROVENANCE_PREDICATE_TYPE,
    Provenance,
    format_time,
    parse_provenance,
)
from hubsnap.values import printable

__all__ = ["ArtifactCheck", "SignatureCheck", "Verifier", "check_signature", "newest"]

_PREDICATE_KINDS = {
    OMS_PREDICATE_TYPE: SignatureKind.OMS,
    PROVENANCE_PREDICATE_TYPE: SignatureKind.PROVENANCE,
    DIFF_PREDICATE_TYPE: SignatureKind.DIFF,
}
UNKNOWN_KIND = "unknown"


@dataclass(frozen=True)
class SignatureCheck:
    """One referrer's outcome. ``kind`` is ``None`` when neither the payload nor the label
    says; ``signer`` (key fingerprint) is set once a trusted key's signature checked out, and
    the rest only when ``ok``; ``reason`` is ``None`` when ``ok``. ``signed_at`` is the signed
    time from a provenance payload (an OMS statement carries none); ``attached_at`` is the
    referrer's unsigned ``created`` annotation, shown as a label only."""

    kind: SignatureKind | None
    referrer: Digest
    outcome: CheckOutcome
    reason: str | None = None
    signer: str | None = None
    signed_at: datetime | None = None
    files: int | None = None
    envelope: Digest | None = None
    provenance: Provenance | None = None
    attached_at: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is CheckOutcome.VERIFIED

    @property
    def label(self) -> str:
        return str(self.kind) if self.kind is not None else UNKNOWN_KIND

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.label, "referrer": str(self.referrer), "ok": self.ok}
        if self.outcome is CheckOutcome.MALFORMED:
            out["skipped"] = True
        if self.reason:
            out["reason"] = self.reason
        if self.signer:
            out["signer"] = self.signer
        if self.signed_at:
            out["signed_at"] = format_time(self.signed_at)
        if self.attached_at:
            out["attached_at"] = format_time(self.attached_at)
        if self.files is not None:
            out["files"] = self.files
        if self.envelope is not None:
            out["envelope"] = str(self.envelope)
        return out


@dataclass(frozen=True)
class ArtifactCheck:
    """The verification of one artifact (one link of the chain). ``parent`` is the next link
    when the chain was walked and the artifact has one; ``source``/``commit`` come from its
    verified provenance (``None`` without one); ``notes`` say what was skipped."""

    reference: str
    digest: Digest
    policy: str | None
    level: PolicyLevel
    signatures: tuple[SignatureCheck, ...]
    failures: tuple[str, ...]
    source: str | None = None
    commit: str | None = None
    parent: ArtifactCheck | None = None
    notes: tuple[str, ...] = ()

    @property
    def all_failures(self) -> list[str]:
        return list(self.failures) + (self.parent.all_failures if self.parent else [])

    @property
    def all_notes(self) -> list[str]:
        return list(self.notes) + (self.parent.all_notes if self.parent else [])

    @property
    def ok(self) -> bool:
        return not self.all_failures

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "reference": self.reference,
            "digest": str(self.digest),
            "policy": self.policy,
            "level": str(self.level),
            "ok": self.ok,
            "signatures": [s.to_json() for s in self.signatures],
            "failures": list(self.failures),
        }
        if self.notes:
            out["notes"] = list(self.notes)
        if self.source:
            out["source"] = self.source
        if self.commit:
            out["commit"] = self.commit
        if self.parent is not None:
            out["parent"] = self.parent.to_json()
        return out


def _unsigned_by_trusted(referrer: SignatureReferrer, keys: tuple[PublicKey, ...]) -> str:
    """Why no trusted key verified: when the bundle names a signer that is none of ours, its
    key id and the trusted keys' ids, as ``hubsnap keygen`` prints them."""
    reason = "signature does not verify with any trusted key"
    assert referrer.bundle is not None
    hint = referrer.bundle.key_hint
    if hint and all(key.bundle_hint != hint for key in keys):
        trusted = ", ".join(key.bundle_hint for key in keys) or "none"
        plural = "s" if len(keys) > 1 else ""
        reason += f"; signed by key id {printable(hint)}, trusted key id{plural} {trusted}"
    return reason


def check_signature(
    referrer: SignatureReferrer, manifest: Manifest, digest: Digest, keys: tuple[PublicKey, ...]
) -> SignatureCheck:
    """Verify one referrer against ``manifest`` (whose digest the caller computed)."""
    kind = referrer.kind

    def fail(
        reason: str, signer: str | None = None, as_kind: SignatureKind | None = kind
    ) -> SignatureCheck:
        return SignatureCheck(as_kind, referrer.digest, CheckOutcome.REJECTED, reason, signer)

    if referrer.bundle is None:
        return SignatureCheck(kind, referrer.digest, CheckOutcome.MALFORMED, referrer.error)
    try:
        opened = open_envelope(referrer.bundle.envelope, keys)
    except IntegrityError as e:
        if e.message == "signature does not verify with any trusted key":
            return fail(_unsigned_by_trusted(referrer, keys))
        return fail(e.message)
    signer = opened.key.fingerprint
    envelope = referrer.bundle.envelope.digest
    signed_kind = _PREDICATE_KINDS.get(str(opened.statement.get("predicateType")))
    if signed_kind is None:
        return fail(f"unknown predicate type {opened.statement.get('predicateType')!r}", signer)
    if referrer.kind is not None and referrer.kind != signed_kind:
        reason = f"referrer is labelled {referrer.kind} but holds {signed_kind}"
        return fail(reason, signer, signed_kind)
    if signed_kind is SignatureKind.DIFF:  # a signed report about the artifact, well formed
        return SignatureCheck(
            SignatureKind.DIFF, referrer.digest, CheckOutcome.VERIFIED, signer=signer,
            envelope=envelope, attached_at=referrer.created,
        )  # fmt: skip
    try:
        if signed_kind is SignatureKind.OMS:
            files = check_oms_statement(OmsStatement.from_json(opened.statement), manifest)
            return SignatureCheck(
                SignatureKind.OMS,
                referrer.digest,
                CheckOutcome.VERIFIED,
                signer=signer,
                files=files,
                envelope=envelope,
                attached_at=referrer.created,
            )
        provenance = parse_provenance(opened.statement)
    except IntegrityError as e:
        return fail(e.message, signer, signed_kind)
    if provenance.subject != digest:
        return fail(f"provenance is for {provenance.subject}, not {digest}", signer, signed_kind)
    return SignatureCheck(
        SignatureKind.PROVENANCE,
        referrer.digest,
        CheckOutcome.VERIFIED,
        signer=signer,
        signed_at=provenance.signed_at,
        envelope=envelope,
        provenance=provenance,
        attached_at=referrer.created,
    )


def newest(checks: list[SignatureCheck]) -> SignatureCheck | None:
    """The check with the latest signed time (ties and undated ones by envelope digest)."""
    if not checks:
        return None
    return max(
        checks, key=lambda c: (c.signed_at.timestamp() if c.signed_at else 0.0, str(c.envelope))
    )


@dataclass
class Verifier:
    """Verifies artifacts under a trust policy; ``open_repository`` opens a parent's URI.

    The chain walk keeps the set of manifests it has visited (a cycle is a failure, never a
    second visit) and stops at the policy's ``maxDepth`` (at most 64), so the work is bounded
    by depth × :data:`~hubsnap.signing.attach.MAX_REFERRERS` whatever the registry lists.
    """

    trust: TrustPolicy
    open_repository: Callable[[str], Repository]
    now: datetime
    chain: bool = False
    _visited: set[Digest] = field(default_factory=set, init=False)

    def verify(self, repository: Repository, digest: Digest) -> ArtifactCheck:
        self._visited = set()
        return self._verify(repository, digest, None, 0)

    def _verify(
        self, repository: Repository, digest: Digest, expected: Digest | None, depth: int
    ) -> ArtifactCheck:
        reference = f"{repository.describe()}@{digest}"
        link = f"chain link {depth} ({reference})" if depth else reference
        self._visited.add(digest)
        manifest = repository.manifest(digest).manifest
        policy = self.trust.for_repository(repository.describe())
        require = policy.require if policy else Requirements()
        if self.chain:
            require = Requirements(
                require.signature, True, True, require.max_depth, require.max_age
            )
        keys = policy.keys if policy else ()
        scan = scan_signature_referrers(repository, digest)
        # Diff reports are statements about the artifact, not signatures of it: set aside,
        # whether labelled so or found so once their signature checked out. One labelled as
        # a signature is rejected as mislabelled.
        checks = tuple(
            check
            for check in (
                check_signature(r, manifest, digest, keys)
                for r in scan.referrers
                if r.kind is not SignatureKind.DIFF
            )
            if not (check.ok and check.kind is SignatureKind.DIFF)
        )
        notes = [f"{link}: {note}" for note in scan.notes]
        notes += [
            f"{link}: skipped referrer {c.referrer}: {c.reason}"
            for c in checks
            if c.outcome is CheckOutcome.MALFORMED
        ]
        failures: list[str] = []
        if policy is None:
            failures.append(f"{link}: no policy scope covers {repository.describe()}")
        elif not checks:
            failures.append(f"{link}: no signature found")
        oms = [c for c in checks if c.ok and c.kind is SignatureKind.OMS]
        provenances = [c for c in checks if c.ok and c.kind is SignatureKind.PROVENANCE]
        if checks and require.signature and not expected and not oms:
            failures.append(f"{link}: no valid OMS signature ({_reasons(checks, 'oms')})")
        chosen: SignatureCheck | None
        if expected is not None:
            chosen = next((c for c in provenances if c.envelope == expected), None)
            if chosen is None and checks:
                failures.append(
                    f"{link}: the provenance its child records ({expected}) is not attached"
                    f" or does not verify ({_reasons(checks, 'provenance')})"
                )
        else:
            chosen = newest(provenances)
            if checks and chosen is None and (require.provenance or require.chain):
                failures.append(f"{link}: no valid provenance ({_reasons(checks, 'provenance')})")
        if require.max_age is not None and checks:
            failures.extend(self._age_failures(link, chosen, require.max_age))
        parent = None
        found = chosen.provenance if chosen else None
        if require.chain and found is not None and found.parent is not None:
            parent, failure = self._walk_parent(repository, found, link, depth, require)
            if failure:
                failures.append(failure)
        return ArtifactCheck(
            reference=reference,
            digest=digest,
            policy=policy.name if policy else None,
            level=policy.level if policy else PolicyLevel.STRICT,
            signatures=checks,
            failures=tuple(failures),
            source=found.source_url if found else None,
            commit=found.commit if found else None,
            parent=parent,
            notes=tuple(notes),
        )

    def _age_failures(self, link: str, chosen: SignatureCheck | None, max_age: float) -> list[str]:
        # Only a signed time counts: the referrer's created annotation can be edited by
        # anyone with push access, and an OMS statement records no time at all.
        if chosen is None:
            return [f"{link}: maxAge needs a provenance (an OMS signature records no time)"]
        if chosen.signed_at is None:
            return [f"{link}: maxAge: the provenance records no signing time"]
        if (self.now - chosen.signed_at).total_seconds() > max_age:
            return [f"{link}: signature is older than the policy's maxAge"]
        return []

    def _walk_parent(
        self,
        repository: Repository,
        provenance: Provenance,
        link: str,
        depth: int,
        require: Requirements,
    ) -> tuple[ArtifactCheck | None, str | None]:
        assert provenance.parent is not None
        target = provenance.parent
        if target.manifest in self._visited:
            return None, f"{link}: parent {target.manifest} makes a cycle"
        if depth + 1 > require.max_depth:
            return None, f"{link}: chain is deeper than maxDepth {require.max_depth}"
        try:
            home = self._locate(repository, target.manifest, target.uri)
        except HubsnapError as e:
            return None, f"{link}: parent {target.uri or target.manifest} not found ({e.message})"
        return self._verify(home, target.manifest, target.provenance_envelope, depth + 1), None

    def _locate(self, repository: Repository, digest: Digest, uri: str) -> Repository:
        try:
            repository.resolve(digest)
        except HubsnapError:
            if not uri:
                raise
            home = self.open_repository(uri)
            home.resolve(digest)
            return home
        return repository


def _reasons(checks: tuple[SignatureCheck, ...], kind: str) -> str:
    reasons = [
        c.reason for c in checks if not c.ok and c.reason and c.label in (kind, UNKNOWN_KIND)
    ]
    return "; ".join(dict.fromkeys(reasons)) if reasons else f"no {kind} signature found"
