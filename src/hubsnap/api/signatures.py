"""Signatures as files and as descriptions: ``export_signature`` and ``describe_signatures``.

``export_signature`` writes an OMS bundle for ``model_signing verify key``; without a key it
trusts nothing (the file is what ``model_signing`` checks) and takes the newest one, with a
key the newest one that key signed over exactly the artifact's files.
``describe_signatures`` tells which referrer of an artifact is its OMS signature, which its
provenance and which a signed diff report, and by which key, for ``inspect``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hubsnap.api.session import Session
from hubsnap.digest import Digest
from hubsnap.errors import IntegrityError, UsageError
from hubsnap.fsutil import atomic_write_bytes
from hubsnap.oci.repository import Repository
from hubsnap.signing.attach import SignatureReferrer, scan_signature_referrers
from hubsnap.signing.diffreport import DIFF_PREDICATE_TYPE
from hubsnap.signing.keys import PublicKey, load_public_key
from hubsnap.signing.kinds import CheckOutcome, SignatureKind
from hubsnap.signing.oms import OMS_PREDICATE_TYPE
from hubsnap.signing.provenance import PROVENANCE_PREDICATE_TYPE, format_time
from hubsnap.signing.verify import SignatureCheck, check_signature

__all__ = [
    "ExportResult",
    "SignatureDescription",
    "claimed_kind",
    "describe_signatures",
    "export_signature",
]

_CLAIMED = {
    OMS_PREDICATE_TYPE: SignatureKind.OMS,
    PROVENANCE_PREDICATE_TYPE: SignatureKind.PROVENANCE,
    DIFF_PREDICATE_TYPE: SignatureKind.DIFF,
}
_EPOCH = datetime.min.replace(tzinfo=UTC)


def claimed_kind(referrer: SignatureReferrer) -> SignatureKind | None:
    """What the bundle's payload says it is, *unverified*: only to choose or label, never to
    trust. ``None`` for an unreadable bundle or another predicate type."""
    if referrer.bundle is None:
        return None
    try:
        value = json.loads(referrer.bundle.envelope.payload)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None
    kind = value.get("predicateType") if isinstance(value, dict) else None
    return _CLAIMED.get(kind) if isinstance(kind, str) else None


def _attached_order(referrer: SignatureReferrer) -> tuple[datetime, str]:
    return (referrer.created or _EPOCH, str(referrer.digest))


@dataclass(frozen=True)
class ExportResult:
    """The bundle written: its referrer, and the fingerprint of the key that was asked to
    have signed it (``None`` when no key was given)."""

    digest: Digest
    referrer: Digest
    output: Path
    size: int
    signer: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "digest": str(self.digest),
            "referrer": str(self.referrer),
            "output": str(self.output),
            "size": self.size,
        }
        if self.signer is not None:
            out["signer"] = self.signer
        return out


def _oms_candidates(
    referrers: Sequence[SignatureReferrer],
    repository: Repository,
    digest: Digest,
    key: PublicKey | None,
) -> list[tuple[SignatureReferrer, SignatureCheck | None]]:
    if key is not None:
        manifest = repository.manifest(digest).manifest
        checks = [(r, check_signature(r, manifest, digest, (key,))) for r in referrers]
        return [(r, c) for r, c in checks if c.ok and c.kind is SignatureKind.OMS]
    # Without a key nothing is trusted: the exported file is what model_signing checks.
    return [
        (r, None)
        for r in referrers
        if r.bundle is not None
        and r.kind in (SignatureKind.OMS, None)
        and claimed_kind(r) is SignatureKind.OMS
    ]


def export_signature(
    session: Session, reference: str, output: Path, *, key: Path | None = None
) -> ExportResult:
    """Write the newest OMS bundle of ``reference`` to ``output`` for ``model_signing``;
    with ``key``, the newest one that key signed and that covers the artifact's files."""
    public = load_public_key(key) if key is not None else None
    repository, digest, _ = session.resolve(reference)
    referrers = scan_signature_referrers(repository, digest).referrers
    candidates = _oms_candidates(referrers, repository, digest, public)
    if not candidates:
        by = f" by {public.fingerprint}" if public is not None else ""
        raise IntegrityError(
            f"no signature{by} found for {repository.describe()}@{digest}",
            hint="sign it with hubsnap sign; a copy made with skopeo or docker has none: "
            "copy with hubsnap cp SRC DEST, which keeps the referrers",
        )
    chosen, _ = max(candidates, key=lambda pair: _attached_order(pair[0]))
    assert chosen.bundle is not None
    data = chosen.bundle.to_bytes()
    try:
        atomic_write_bytes(output, data)
    except OSError as e:
        raise UsageError(f"cannot write {output}: {e.strerror}") from e
    signer = public.fingerprint if public is not None else None
    return ExportResult(digest, chosen.digest, output, len(data), signer)


@dataclass(frozen=True)
class SignatureDescription:
    """One signature referrer as ``inspect`` shows it. ``kind`` is what the payload says
    (checked when ``verified``); ``key_hint`` the bundle's key hint (SHA-256 of the signer's
    PEM, as ``model_signing`` records it); ``signer`` the fingerprint of the given key that
    verified it, ``None`` when none did; ``problem`` why it is unreadable or did not verify."""

    referrer: Digest
    kind: SignatureKind | None
    key_hint: str | None
    signer: str | None
    verified: bool
    attached_at: datetime | None
    problem: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "referrer": str(self.referrer),
            "kind": str(self.kind) if self.kind is not None else None,
            "key_hint": self.key_hint,
            "signer": self.signer,
            "verified": self.verified,
            "attached_at": format_time(self.attached_at) if self.attached_at else None,
            "problem": self.problem,
        }


def describe_signatures(
    repository: Repository, digest: Digest, keys: Sequence[PublicKey] = ()
) -> tuple[SignatureDescription, ...]:
    """Each signature referrer of ``digest``: OMS or provenance, and by which key.

    Without ``keys`` nothing is verified and ``kind`` is the payload's own claim.
    """
    manifest = repository.manifest(digest).manifest
    out = []
    for referrer in scan_signature_referrers(repository, digest).referrers:
        hint = referrer.bundle.key_hint if referrer.bundle is not None else None
        check: SignatureCheck | None = None
        if keys:
            check = check_signature(referrer, manifest, digest, tuple(keys))
        problem = referrer.error
        if check is not None and not check.ok:
            problem = check.reason
        out.append(
            SignatureDescription(
                referrer=referrer.digest,
                kind=check.kind if check is not None and check.kind else claimed_kind(referrer),
                key_hint=hint,
                signer=check.signer if check is not None else None,
                verified=check is not None and check.outcome is CheckOutcome.VERIFIED,
                attached_at=referrer.created,
                problem=problem,
            )
        )
    return tuple(out)
