"""Signature referrers: bundles attached to a model manifest as OCI artifacts, and read back.

A referrer is an image manifest with ``subject`` = the model manifest, ``config`` = the OCI
empty descriptor, one layer = the bundle JSON, ``artifactType`` = the Sigstore bundle media
type, and two annotations: which kind of statement it carries (``oms``, ``provenance``, or
``diff`` for a signed diff report) and when it was signed. Annotations are not signed;
readers only use them to label and order candidates, never to decide trust. Reading is
capped and checked at each step: the referrer manifest must name the subject asked for (a
tag-schema fallback index can be edited by anyone with push access), and the bundle blob
must fit in 1 MiB before it is fetched. A listing is deduplicated, never includes the
subject itself, and is examined up to :data:`MAX_REFERRERS` entries. A referrer that cannot
be read as a signature is returned with the reason, so that the valid ones beside it still
count; a network failure is not such a reason and propagates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from hubsnap.digest import Digest, sha256_bytes
from hubsnap.errors import AuthError, HubsnapError, IntegrityError, NotFoundError, RemoteError
from hubsnap.models import (
    ANNOTATION_CREATED,
    ARTIFACT_TYPE_SIGSTORE_BUNDLE,
    EMPTY_JSON,
    MEDIA_TYPE_EMPTY,
    Descriptor,
    Manifest,
)
from hubsnap.oci.repository import Repository
from hubsnap.signing.dsse import MAX_BUNDLE_BYTES, Bundle, parse_bundle
from hubsnap.signing.kinds import SignatureKind
from hubsnap.signing.provenance import format_time, parse_time

__all__ = [
    "ANNOTATION_KIND",
    "KIND_DIFF",
    "KIND_OMS",
    "KIND_PROVENANCE",
    "MAX_REFERRERS",
    "PreparedReferrer",
    "ReferrerScan",
    "SignatureReferrer",
    "attach_bundle",
    "attach_bundles",
    "build_referrer_manifest",
    "load_signature_referrers",
    "prepare_referrer",
    "scan_signature_referrers",
]

ANNOTATION_KIND = "dev.hubsnap.signature.kind"
KIND_OMS = SignatureKind.OMS
KIND_PROVENANCE = SignatureKind.PROVENANCE
KIND_DIFF = SignatureKind.DIFF
_MAX_REFERRER_MANIFEST = 64 * 1024
#: Signature referrers examined per subject: each costs two reads, and a registry (or anyone
#: with push access to a tag-schema index) can list any number of them.
MAX_REFERRERS = 1000


def _empty_config() -> Descriptor:
    return Descriptor(MEDIA_TYPE_EMPTY, sha256_bytes(EMPTY_JSON), len(EMPTY_JSON))


def build_referrer_manifest(
    subject: Descriptor, bundle_bytes: bytes, kind: SignatureKind, signed_at: datetime
) -> Manifest:
    return Manifest(
        config=_empty_config(),
        layers=(
            Descriptor(
                ARTIFACT_TYPE_SIGSTORE_BUNDLE, sha256_bytes(bundle_bytes), len(bundle_bytes)
            ),
        ),
        artifact_type=ARTIFACT_TYPE_SIGSTORE_BUNDLE,
        subject=Descriptor(subject.media_type, subject.digest, subject.size),
        annotations={ANNOTATION_KIND: kind, ANNOTATION_CREATED: format_time(signed_at)},
    )


@dataclass(frozen=True)
class PreparedReferrer:
    """A signed bundle and the referrer manifest that will carry it, not yet stored."""

    kind: SignatureKind
    bundle: bytes
    manifest: Manifest


def prepare_referrer(
    subject: Descriptor, bundle: Bundle, kind: SignatureKind, signed_at: datetime
) -> PreparedReferrer:
    data = bundle.to_bytes()
    return PreparedReferrer(kind, data, build_referrer_manifest(subject, data, kind, signed_at))


def attach_bundles(
    repository: Repository, referrers: Sequence[PreparedReferrer]
) -> tuple[Digest, ...]:
    """Store every blob, then every referrer manifest; their digests, in order.

    Blobs are invisible until a manifest names them, so uploading all of them first leaves
    a window only between the manifest puts. If a later put fails after an earlier one
    landed, the error says which referrers are attached and which is missing.
    """
    repository.put_blob_bytes(EMPTY_JSON)
    for referrer in referrers:
        repository.put_blob_bytes(referrer.bundle)
    attached: list[Digest] = []
    for referrer in referrers:
        try:
            attached.append(repository.put_manifest(referrer.manifest.to_bytes()))
        except HubsnapError as e:
            if not attached:
                raise
            landed = ", ".join(f"{r.kind} {d}" for r, d in zip(referrers, attached, strict=False))
            raise type(e)(
                f"{referrer.kind} referrer not attached ({e.message}); already attached: {landed}",
                hint="sign again: verification uses the newest valid pair",
            ) from e
    return tuple(attached)


def attach_bundle(
    repository: Repository,
    subject: Descriptor,
    bundle: Bundle,
    kind: SignatureKind,
    signed_at: datetime,
) -> Digest:
    """Store one bundle and its referrer manifest; return the referrer manifest digest."""
    (digest,) = attach_bundles(repository, [prepare_referrer(subject, bundle, kind, signed_at)])
    return digest


@dataclass(frozen=True)
class SignatureReferrer:
    """One candidate signature. ``bundle`` is ``None`` and ``error`` says why if unreadable.

    ``kind`` and ``created`` come from unsigned annotations (``None`` when absent, or when
    ``kind`` names no kind hubsnap signs).
    """

    digest: Digest
    kind: SignatureKind | None
    created: datetime | None
    bundle: Bundle | None
    error: str | None = None


@dataclass(frozen=True)
class ReferrerScan:
    """The signature referrers of one subject, and notes on what was left out."""

    referrers: tuple[SignatureReferrer, ...]
    notes: tuple[str, ...] = ()


def _kind(annotations: Mapping[str, str]) -> SignatureKind | None:
    try:
        return SignatureKind(annotations.get(ANNOTATION_KIND, ""))
    except ValueError:
        return None


def _read_referrer(repository: Repository, referrer: Descriptor) -> Manifest:
    try:
        return repository.manifest(referrer.digest).manifest
    except RecursionError as e:
        # The stdlib JSON parser recurses per nesting level; no manifest is this deep.
        raise IntegrityError("referrer manifest is nested too deeply") from e


def _read_bundle(repository: Repository, layer: Descriptor) -> Bundle:
    return parse_bundle(repository.get_blob_bytes(layer.digest, MAX_BUNDLE_BYTES))


def _load_one(repository: Repository, subject: Digest, referrer: Descriptor) -> SignatureReferrer:
    kind = _kind(referrer.annotations)
    created = parse_time(referrer.annotations.get(ANNOTATION_CREATED))

    def broken(reason: str) -> SignatureReferrer:
        return SignatureReferrer(referrer.digest, kind, created, None, reason)

    if referrer.size > _MAX_REFERRER_MANIFEST:
        return broken(f"referrer manifest is {referrer.size} bytes, too large for a signature")
    try:
        manifest = _read_referrer(repository, referrer)
    except (RemoteError, AuthError):
        raise  # the network, not the signature: the caller reports it as such (exit 5/4)
    except HubsnapError as e:
        return broken(f"referrer manifest unreadable: {e.message}")
    kind = _kind(manifest.annotations) or kind
    created = parse_time(manifest.annotations.get(ANNOTATION_CREATED)) or created
    if manifest.subject is None or manifest.subject.digest != subject:
        named = manifest.subject.digest if manifest.subject is not None else "nothing"
        return broken(f"referrer's subject is {named}, not {subject}")
    if manifest.artifact_type != ARTIFACT_TYPE_SIGSTORE_BUNDLE:
        return broken("referrer is not a signature bundle")
    bundles = [
        layer for layer in manifest.layers if layer.media_type == ARTIFACT_TYPE_SIGSTORE_BUNDLE
    ]
    if len(manifest.layers) != 1 or len(bundles) != 1:
        return broken("referrer must hold exactly one bundle layer")
    layer = bundles[0]
    if layer.size > MAX_BUNDLE_BYTES:
        return broken(f"signature bundle is {layer.size} bytes, over the 1 MiB limit")
    try:
        bundle = _read_bundle(repository, layer)
    except (RemoteError, AuthError):
        raise
    except HubsnapError as e:
        return broken(e.message)
    return SignatureReferrer(referrer.digest, kind, created, bundle)


def _candidates(subject: Digest, found: list[Descriptor]) -> list[Descriptor]:
    """Each listed referrer once, never the subject itself; ones labelled as hubsnap
    signatures first, then diff reports, then the unlabelled (labels only order the work,
    they are not trusted: a pile of reports cannot push the signatures past the limit)."""
    unique: dict[Digest, Descriptor] = {}
    for descriptor in found:
        if descriptor.digest != subject and descriptor.digest not in unique:
            unique[descriptor.digest] = descriptor
    rank = {SignatureKind.OMS: 0, SignatureKind.PROVENANCE: 0, SignatureKind.DIFF: 1, None: 2}
    return sorted(unique.values(), key=lambda d: rank[_kind(d.annotations)])


def scan_signature_referrers(
    repository: Repository, subject: Digest, *, limit: int = MAX_REFERRERS
) -> ReferrerScan:
    """Every signature referrer of ``subject`` (at most ``limit``), each parsed or carrying
    the reason it is not. Network and authorisation failures propagate."""
    try:
        found = repository.referrers(subject, ARTIFACT_TYPE_SIGSTORE_BUNDLE)
    except NotFoundError:
        return ReferrerScan(())
    candidates = _candidates(subject, found)
    notes: tuple[str, ...] = ()
    if len(candidates) > limit:
        notes = (
            f"{subject} lists {len(candidates)} signature referrers; only the first {limit}"
            " were examined",
        )
        candidates = candidates[:limit]
    return ReferrerScan(tuple(_load_one(repository, subject, d) for d in candidates), notes)


def load_signature_referrers(repository: Repository, subject: Digest) -> list[SignatureReferrer]:
    """Every signature referrer of ``subject`` (see :func:`scan_signature_referrers`)."""
    return list(scan_signature_referrers(repository, subject).referrers)
