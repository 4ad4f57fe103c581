"""The signing verbs: ``keygen``, ``sign`` and ``verify`` (with :func:`verdict`, what a
report means for the command); ``export_signature`` is in :mod:`hubsnap.api.signatures`.

``sign`` resolves the reference to a manifest digest first, then attaches two referrers to
that exact digest: the OMS signature over the manifest's files and the SLSA provenance.

Provenance inputs, and where they come from:

* Hub source and commit: the manifest's ``org.opencontainers.image.source`` and
  ``org.opencontainers.image.revision`` annotations (what ``snapshot`` wrote). An artifact
  another tool built records what it says of its source instead (see
  :mod:`hubsnap.signing.plan`).
* Requested revision: ``requested_revision`` when the caller knows it (``snapshot --sign``,
  ``sign --revision``, or ``sign --snapshot snapshot.yaml``, whose recorded artifact digest
  must be the one signed), else the commit — the artifact itself only records the commit.
* Model card: the ``README.md`` layer, read from the repository (capped at 1 MiB).
* Parent: ``parent`` (``sign --parent REF``), else the base annotations, else the card's
  ``base_model`` found in the same local store or beside the repository on the registry —
  see :mod:`hubsnap.signing.lineage`. The parent must carry a provenance signed by the
  signing key or one of ``parent_keys``; its envelope digest is recorded.

Both statements are built and signed, and both bundles uploaded, before either referrer
manifest is stored, so a failure leaves at most the window between the two manifest puts
(and then says which referrer landed). A subject that already carries a valid signature and
provenance by the key gets nothing new (``force`` signs again).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hubsnap.api.session import Session
from hubsnap.digest import Digest
from hubsnap.errors import IntegrityError, UsageError, from_os_error
from hubsnap.models import Descriptor
from hubsnap.oci.repository import Repository
from hubsnap.signing.attach import (
    PreparedReferrer,
    attach_bundles,
    prepare_referrer,
    scan_signature_referrers,
)
from hubsnap.signing.dsse import sign_statement
from hubsnap.signing.keys import (
    DEFAULT_PASSWORD_ENV,
    Curve,
    KeyPair,
    PrivateKey,
    PublicKey,
    generate_key,
    load_private_key,
    load_public_key,
    save_key_pair,
)
from hubsnap.signing.kinds import SignatureKind
from hubsnap.signing.lineage import parent_link, read_model_card
from hubsnap.signing.oms import build_oms_statement
from hubsnap.signing.plan import (
    check_raw_layers,
    find_reusable,
    model_name,
    provenance_for,
    read_source_claim,
)
from hubsnap.signing.policy import PolicyLevel, Requirements, TrustPolicy, load_policy
from hubsnap.signing.provenance import ParentLink
from hubsnap.signing.verify import ArtifactCheck, SignatureCheck, Verifier
from hubsnap.snapshot import read_snapshot_document
from hubsnap.values import printable

__all__ = [
    "Prompt",
    "SignResult",
    "Verdict",
    "check_signing_key",
    "keygen",
    "sign",
    "sign_artifact",
    "snapshot_revision",
    "verdict",
    "verify",
]

Prompt = Callable[[str], str]


def keygen(
    output: Path,
    *,
    curve: str = Curve.P256,
    password_env: str | None = None,
    encrypt: bool = False,
    prompt: Prompt | None = None,
) -> KeyPair:
    """Generate a key pair, encrypted when ``password_env`` names a variable (its password,
    or the prompt's when it is unset) or when ``encrypt`` asks for a prompted password."""
    password = None
    if password_env is not None:
        password = os.environ.get(password_env) or None
        if password is None and prompt is not None:
            password = prompt("Password for the new key")
        if not password:
            raise UsageError(f"{password_env} is not set", hint="export it or omit --password-env")
    elif encrypt:
        password = prompt("Password for the new key") if prompt is not None else None
        if not password:
            raise UsageError(
                "--encrypt needs a password typed at a terminal",
                hint="run interactively, or pass --password-env VAR",
            )
    try:
        return save_key_pair(generate_key(curve), output, password=password)
    except OSError as e:
        raise from_os_error(e, "write the key", output) from e


@dataclass(frozen=True)
class SignResult:
    """The signature and provenance the subject now carries. ``attached`` names those this
    call attached (empty when both were already there, by this key); ``parent`` is ``None``
    when the provenance names no parent."""

    subject: str
    digest: Digest
    signer: str
    signature: Digest
    provenance: Digest
    provenance_envelope: Digest
    parent: ParentLink | None
    files: int
    notes: tuple[str, ...] = ()
    attached: tuple[SignatureKind, ...] = (SignatureKind.OMS, SignatureKind.PROVENANCE)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "reference": self.subject,
            "digest": str(self.digest),
            "signer": self.signer,
            "signature": str(self.signature),
            "provenance": str(self.provenance),
            "provenance_envelope": str(self.provenance_envelope),
            "files": self.files,
            "attached": [str(kind) for kind in self.attached],
            "parent": None,
        }
        if self.parent is not None:
            out["parent"] = {
                "uri": self.parent.uri,
                "digest": str(self.parent.manifest),
                "provenance_envelope": str(self.parent.provenance_envelope),
            }
        return out


def sign_artifact(
    repository: Repository,
    digest: Digest,
    key: PrivateKey,
    *,
    signed_at: datetime | None = None,
    parent: tuple[Repository, Digest] | None = None,
    parent_keys: Sequence[PublicKey] = (),
    requested_revision: str | None = None,
    hf_endpoint: str = "https://huggingface.co",
    force: bool = False,
) -> SignResult:
    """Sign a model manifest already in ``repository``: attach OMS signature and provenance,
    unless valid ones by this key are already attached (see :mod:`hubsnap.signing.plan`);
    ``force`` attaches both regardless.

    This is the whole cost of signing once the key is loaded (the benchmark times it).
    """
    now = signed_at or datetime.now(UTC)
    found = repository.manifest(digest)
    manifest = found.manifest
    if not manifest.is_model:
        raise UsageError(f"{digest} is not a model artifact", hint="sign the model manifest")
    check_raw_layers(manifest)
    subject = Descriptor(manifest.media_type, digest, found.size)
    artifact_uri = f"{repository.describe()}@{digest}"
    claim = read_source_claim(repository, manifest)
    repo_id = claim.url.removeprefix(hf_endpoint).strip("/") or claim.url if claim.url else None
    card = read_model_card(repository, manifest)
    trusted = (key.public(), *parent_keys)
    link, notes = parent_link(
        repository,
        manifest=manifest,
        child_id=repo_id or "",
        card=card,
        parent=parent,
        keys=trusted,
        hf_endpoint=hf_endpoint,
    )
    oms_statement = build_oms_statement(manifest, model_name(claim, repo_id, digest))
    provenance = provenance_for(
        digest=digest,
        artifact_uri=artifact_uri,
        claim=claim,
        repo_id=repo_id,
        requested_revision=requested_revision,
        card=card,
        parent=link,
        signed_at=now,
    )
    reuse_oms: SignatureCheck | None = None
    reuse_provenance: SignatureCheck | None = None
    if not force:
        # A network failure here propagates (exit 5): it says nothing about the signatures.
        existing = find_reusable(
            scan_signature_referrers(repository, digest),
            manifest,
            digest,
            key.public(),
            provenance,
            compare_requested=requested_revision is not None,
        )
        reuse_oms, reuse_provenance = existing.oms, existing.provenance
    pending: list[PreparedReferrer] = []
    if reuse_oms is None:
        bundle = sign_statement(oms_statement, key)
        pending.append(prepare_referrer(subject, bundle, SignatureKind.OMS, now))
    if reuse_provenance is None:
        provenance_bundle = sign_statement(provenance, key)
        envelope = provenance_bundle.envelope.digest
        pending.append(prepare_referrer(subject, provenance_bundle, SignatureKind.PROVENANCE, now))
    else:
        assert reuse_provenance.envelope is not None
        envelope = reuse_provenance.envelope
    attached = (
        dict(zip((p.kind for p in pending), attach_bundles(repository, pending), strict=True))
        if pending
        else {}
    )
    return SignResult(
        subject=artifact_uri,
        digest=digest,
        signer=key.public().fingerprint,
        signature=reuse_oms.referrer if reuse_oms else attached[SignatureKind.OMS],
        provenance=(
            reuse_provenance.referrer if reuse_provenance else attached[SignatureKind.PROVENANCE]
        ),
        provenance_envelope=envelope,
        parent=link,
        files=len(oms_statement.resources),
        notes=notes,
        attached=tuple(attached),
    )


def check_signing_key(key_path: Path, *, password_env: str = DEFAULT_PASSWORD_ENV) -> None:
    """Load the signing key once, as an unattended job would (its password only from
    ``password_env``), so that a server or worker refuses a key it cannot sign with at start."""
    load_private_key(key_path, password_env=password_env)


def sign(
    session: Session,
    reference: str,
    key_path: Path,
    *,
    parent: str | None = None,
    parent_keys: Sequence[Path] = (),
    requested_revision: str | None = None,
    snapshot: Path | None = None,
    password_env: str = DEFAULT_PASSWORD_ENV,
    prompt: Prompt | None = None,
    signed_at: datetime | None = None,
    force: bool = False,
) -> SignResult:
    """``hubsnap sign``: resolve ``reference`` to a digest, then sign that digest.

    ``snapshot`` (a ``snapshot.yaml``) supplies the requested revision; it must record the
    artifact being signed.
    """
    if snapshot is not None and requested_revision is not None:
        raise UsageError("--snapshot and --revision both name the requested revision")
    key = load_private_key(key_path, password_env=password_env, prompt=prompt)
    extra = tuple(load_public_key(p) for p in parent_keys)
    repository, digest, _ = session.resolve(reference)
    if snapshot is not None:
        requested_revision = snapshot_revision(snapshot, digest)
    parent_target = session.resolve(parent)[:2] if parent else None
    return sign_artifact(
        repository,
        digest,
        key,
        signed_at=signed_at,
        parent=parent_target,
        parent_keys=extra,
        requested_revision=requested_revision,
        hf_endpoint=session.settings.hub_url,
        force=force,
    )


def snapshot_revision(path: Path, digest: Digest) -> str:
    """The requested revision a ``snapshot.yaml`` records for the artifact ``digest``."""
    document = read_snapshot_document(path)
    artifact, revision = document.get("artifact"), document.get("revision")
    if not isinstance(artifact, dict) or not isinstance(revision, str) or not revision:
        raise UsageError(f"{path} is not a hubsnap snapshot document")
    if artifact.get("digest") != str(digest):
        raise UsageError(
            f"{path} records artifact {printable(str(artifact.get('digest')))}, not {digest}",
            hint="pass the snapshot.yaml written for this artifact",
        )
    return revision


def verify(
    session: Session,
    reference: str,
    *,
    keys: Sequence[Path] = (),
    policy: Path | None = None,
    chain: bool = False,
    now: datetime | None = None,
) -> ArtifactCheck:
    """``hubsnap verify``: the report; the caller decides what a failure means (see level)."""
    if not keys and policy is None:
        raise UsageError("no trusted key", hint="pass --key KEY.pub or --policy policy.yaml")
    public_keys = tuple(load_public_key(p) for p in keys)
    if policy is not None:
        trust = load_policy(policy).with_keys(public_keys)
    else:
        trust = TrustPolicy.from_keys(public_keys, Requirements())
    repository, digest, _ = session.resolve(reference)
    verifier = Verifier(
        trust=trust, open_repository=session.open, now=now or datetime.now(UTC), chain=chain
    )
    return verifier.verify(repository, digest)


@dataclass(frozen=True)
class Verdict:
    """What a verification report means for the command: ``error`` (exit 6) under a strict
    policy with failures, else ``None``; ``warnings`` are the lines for stderr when it does
    not fail (skipped referrers, and under ``audit`` each failure)."""

    warnings: tuple[str, ...]
    error: IntegrityError | None


def verdict(report: ArtifactCheck) -> Verdict:
    """Decide what ``report`` means: strict fails on the first failure, audit reports."""
    notes = tuple(f"note: {note}" for note in report.all_notes)
    failures = report.all_failures
    if not failures:
        return Verdict(notes, None)
    if report.level is PolicyLevel.AUDIT:
        return Verdict(notes + tuple(f"audit: {failure}" for failure in failures), None)
    more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
    # The error's one line names the first failure, which already gives every reason.
    hint = None
    if not report.signatures and "no signature found" in failures[0]:
        hint = COPY_HINT
    elif "signed by key id" in failures[0]:
        hint = KEY_ID_HINT
    return Verdict((), IntegrityError(f"verification failed: {failures[0]}{more}", hint=hint))


#: What a key id in a wrong-key failure is, and how to match it to a key file.
KEY_ID_HINT = (
    "a key id is the SHA-256 of a .pub file (sha256sum key.pub; hubsnap keygen prints it): "
    "pass the signer's public key with --key"
)


#: Why a copy may have no signature: skopeo, docker and ``oras cp`` without ``-r`` copy the
#: artifact by digest but leave its referrers behind.
COPY_HINT = (
    "signatures travel as referrers, which skopeo or docker copies leave behind: copy with "
    "hubsnap cp SRC DEST (artifact and referrers), or sign this copy"
)
