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
from hubsnap.signing.attach import (
    KIND_OMS,
    KIND_PROVENANCE,
    SignatureReferrer,
    load_signature_referrers,
)
from hubsnap.signing.dsse import open_envelope
from hubsnap.signing.keys import PublicKey
from hubsnap.signing.oms import OMS_PREDICATE_TYPE, check_oms_statement
from hubsnap.signing.policy import Requirements, TrustPolicy
from hubsnap.signing.provenance import (
    PROVENANCE_PREDICATE_TYPE,
    Provenance,
    format_time,
    parse_provenance,
)

__all__ = ["ArtifactCheck", "SignatureCheck", "Verifier", "check_signature", "newest"]

_PREDICATE_KINDS = {OMS_PREDICATE_TYPE: KIND_OMS, PROVENANCE_PREDICATE_TYPE: KIND_PROVENANCE}


@dataclass(frozen=True)
class SignatureCheck:
    """One referrer's outcome. ``signer`` (key fingerprint) and the rest are ``None`` unless
    the signature verified; ``reason`` is ``None`` when ``ok``. ``signed_at`` is the signed
    time from a provenance payload (an OMS statement carries none); ``attached_at`` is the
    referrer's unsigned ``created`` annotation, shown as a label only."""

    kind: str
    referrer: Digest
    ok: bool
    reason: str | None = None
    signer: str | None = None
    signed_at: datetime | None = None
    files: int | None = None
    envelope: Digest | None = None
    provenance: Provenance | None = None
    attached_at: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "referrer": str(self.referrer), "ok": self.ok}
        if self.reason:
            out["reason"] = self.reason
        if self.signer:
            out["signer"] = self.signer
        if self.signed_at:
            out["signedAt"] = format_time(self.signed_at)
        if self.attached_at:
            out["attachedAt"] = self.attached_at
        if self.files is not None:
            out["files"] = self.files
        if self.envelope is not None:
            out["envelope"] = str(self.envelope)
        return out


@dataclass(frozen=True)
class ArtifactCheck:
    """The verification of one artifact (one link of the chain). ``parent`` is the next link
    when the chain was walked and the artifact has one; ``source``/``commit`` come from its
    verified provenance (``None`` without one)."""

    reference: str
    digest: Digest
    policy: str | None
    level: str
    signatures: tuple[SignatureCheck, ...]
    failures: tuple[str, ...]
    source: str | None = None
    commit: str | None = None
    parent: ArtifactCheck | None = None

    @property
    def all_failures(self) -> list[str]:
        return list(self.failures) + (self.parent.all_failures if self.parent else [])

    @property
    def ok(self) -> bool:
        return not self.all_failures

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "reference": self.reference,
            "digest": str(self.digest),
            "policy": self.policy,
            "level": self.level,
            "ok": self.ok,
            "signatures": [s.to_json() for s in self.signatures],
            "failures": list(self.failures),
        }
        if self.source:
            out["source"] = self.source
        if self.commit:
            out["commit"] = self.commit
        if self.parent is not None:
            out["parent"] = self.parent.to_json()
        return out


def check_signature(
    referrer: SignatureReferrer, manifest: Manifest, digest: Digest, keys: tuple[PublicKey, ...]
) -> SignatureCheck:
    """Verify one referrer against ``manifest`` (whose digest the caller computed)."""
    kind = referrer.kind or "unknown"
    if referrer.bundle is None:
        return SignatureCheck(kind, referrer.digest, False, referrer.error)
    try:
        opened = open_envelope(referrer.bundle.envelope, keys)
    except IntegrityError as e:
        return SignatureCheck(kind, referrer.digest, False, e.message)
    signer = opened.key.fingerprint
    envelope = referrer.bundle.envelope.digest
    signed_kind = _PREDICATE_KINDS.get(str(opened.statement.get("predicateType")))
    if signed_kind is None:
        reason = f"unknown predicate type {opened.statement.get('predicateType')!r}"
        return SignatureCheck(kind, referrer.digest, False, reason, signer)
    if referrer.kind is not None and referrer.kind != signed_kind:
        reason = f"referrer is labelled {referrer.kind} but holds {signed_kind}"
        return SignatureCheck(signed_kind, referrer.digest, False, reason, signer)
    try:
        if signed_kind == KIND_OMS:
            files = check_oms_statement(opened.statement, manifest)
            return SignatureCheck(
                KIND_OMS,
                referrer.digest,
                True,
                None,
                signer,
                files=files,
                envelope=envelope,
                attached_at=referrer.created,
            )
        provenance = parse_provenance(opened.statement)
    except IntegrityError as e:
        return SignatureCheck(signed_kind, referrer.digest, False, e.message, signer)
    if provenance.subject != digest:
        reason = f"provenance is for {provenance.subject}, not {digest}"
        return SignatureCheck(KIND_PROVENANCE, referrer.digest, False, reason, signer)
    return SignatureCheck(
        KIND_PROVENANCE,
        referrer.digest,
        True,
        None,
        signer,
        provenance.signed_at,
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
    """Verifies artifacts under a trust policy; ``open_repository`` opens a parent's URI."""

    trust: TrustPolicy
    open_repository: Callable[[str], Repository]
    now: datetime
    chain: bool = False
    _visited: list[Digest] = field(default_factory=list, init=False)

    def verify(self, repository: Repository, digest: Digest) -> ArtifactCheck:
        self._visited = []
        return self._verify(repository, digest, None, 0)

    def _verify(
        self, repository: Repository, digest: Digest, expected: Digest | None, depth: int
    ) -> ArtifactCheck:
        reference = f"{repository.describe()}@{digest}"
        link = f"chain link {depth} ({reference})" if depth else reference
        self._visited.append(digest)
        _, manifest = repository.get_manifest(digest)
        policy = self.trust.for_repository(repository.describe())
        require = policy.require if policy else Requirements()
        if self.chain:
            require = Requirements(
                require.signature, True, True, require.max_depth, require.max_age
            )
        keys = policy.keys if policy else ()
        referrers = load_signature_referrers(repository, digest)
        checks = tuple(check_signature(r, manifest, digest, keys) for r in referrers)
        failures: list[str] = []
        if policy is None:
            failures.append(f"{link}: no policy scope covers {repository.describe()}")
        elif not checks:
            failures.append(f"{link}: no signature found")
        oms = [c for c in checks if c.ok and c.kind == KIND_OMS]
        provenances = [c for c in checks if c.ok and c.kind == KIND_PROVENANCE]
        if checks and require.signature and not expected and not oms:
            failures.append(f"{link}: no valid OMS signature ({_reasons(checks, KIND_OMS)})")
        chosen: SignatureCheck | None
        if expected is not None:
            chosen = next((c for c in provenances if c.envelope == expected), None)
            if chosen is None and checks:
                failures.append(
                    f"{link}: the provenance its child records ({expected}) is not attached"
                    f" or does not verify ({_reasons(checks, KIND_PROVENANCE)})"
                )
        else:
            chosen = newest(provenances)
            if checks and chosen is None and (require.provenance or require.chain):
                failures.append(
                    f"{link}: no valid provenance ({_reasons(checks, KIND_PROVENANCE)})"
                )
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
            level=policy.level if policy else "strict",
            signatures=checks,
            failures=tuple(failures),
            source=found.source_url if found else None,
            commit=found.commit if found else None,
            parent=parent,
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
    reasons = [c.reason for c in checks if not c.ok and c.reason and c.kind in (kind, "unknown")]
    return "; ".join(dict.fromkeys(reasons)) if reasons else f"no {kind} signature found"
