"""What ``sign`` attaches to an artifact: its source as the artifact states it, the two typed
statements, and which of them an existing signature by the same key already covers.

An artifact hubsnap built carries the OCI source and revision annotations, and gets the
``hub-snapshot`` provenance exactly as before. Any other ModelPack artifact (modctl, KitOps,
oras; legacy ``cnai`` names too) is signed from its layers' file paths, and its provenance
records what it says of its source — the OCI annotations, else the ModelPack config's
``descriptor.sourceURL`` / ``revision`` — or that it says nothing (``unknown``).

Signing is idempotent: a valid OMS signature by the signing key over exactly these files is
reused, and so is a valid provenance by that key that records the same subject, source,
model card and parent (its signing time and hubsnap version aside; the requested revision
only when the caller states one; the parent only when one is found now — the copy of an
artifact in a registry whose base was pushed elsewhere keeps the provenance signed where
the base was found). A parent found at another place (the base's copy beside the child's
in a registry, where the record names the local store) is signed again, so that the copy's
chain can be walked where it is. Only what is missing is attached.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from hubsnap.digest import Digest
from hubsnap.errors import IntegrityError, NotFoundError, UsageError
from hubsnap.models import (
    ANNOTATION_REVISION,
    ANNOTATION_SOURCE,
    MEDIA_TYPE_MODEL_CONFIG,
    Manifest,
    normalise_media_type,
)
from hubsnap.oci.artifact import parse_model_config
from hubsnap.oci.repository import Repository
from hubsnap.signing.attach import ReferrerScan
from hubsnap.signing.keys import PublicKey
from hubsnap.signing.kinds import SignatureKind, SourceOrigin
from hubsnap.signing.provenance import ModelCard, ParentLink, Provenance
from hubsnap.signing.verify import SignatureCheck, check_signature, newest

__all__ = [
    "Reusable",
    "SourceClaim",
    "check_raw_layers",
    "find_reusable",
    "model_name",
    "provenance_for",
    "read_source_claim",
]

_MAX_CONFIG_BYTES = 1024 * 1024
_MODEL_LAYER_PREFIX = "application/vnd.cncf.model."


def check_raw_layers(manifest: Manifest) -> None:
    """Refuse a model whose files are packed (``.tar``, ``+gzip``, ``+zstd`` layers): an OMS
    signature covers each file's own digest, which a packed layer does not give."""
    for layer in manifest.layers:
        media_type = normalise_media_type(layer.media_type)
        if media_type.startswith(_MODEL_LAYER_PREFIX) and not media_type.endswith(".raw"):
            name = layer.filepath or str(layer.digest)
            raise UsageError(
                f"layer {name} is packed ({media_type}); an OMS signature needs raw file layers",
                hint="rebuild the artifact with one raw layer per file (e.g. modctl build --raw)",
            )


@dataclass(frozen=True)
class SourceClaim:
    """What an artifact says of its source. ``url``/``revision`` are ``None`` when it does not
    say; ``name`` is the model's name from the ModelPack config, ``None`` when absent."""

    origin: SourceOrigin
    url: str | None = None
    revision: str | None = None
    name: str | None = None

    @property
    def hub_built(self) -> bool:
        """True for what hubsnap's own ``snapshot`` writes: both OCI annotations."""
        return self.origin is SourceOrigin.ANNOTATIONS and bool(self.url and self.revision)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _config_descriptor(repository: Repository, manifest: Manifest) -> dict[str, object]:
    config = manifest.config
    if normalise_media_type(config.media_type) != MEDIA_TYPE_MODEL_CONFIG:
        return {}
    if config.size > _MAX_CONFIG_BYTES:
        raise IntegrityError(f"model config {config.digest} is {config.size} bytes, over 1 MiB")
    try:
        data = repository.get_blob_bytes(config.digest, _MAX_CONFIG_BYTES)
    except NotFoundError:
        return {}  # a store without the config blob: the claim is then unknown
    try:
        value = parse_model_config(data)
    except RecursionError as e:
        raise IntegrityError("model config is nested too deeply") from e
    descriptor = value.get("descriptor")
    return descriptor if isinstance(descriptor, dict) else {}


def read_source_claim(repository: Repository, manifest: Manifest) -> SourceClaim:
    """The artifact's own word on its source: annotations first, then the model config.

    hubsnap's artifacts (both annotations present) are answered without reading the config.
    """
    annotations = manifest.annotations
    url = _text(annotations.get(ANNOTATION_SOURCE))
    revision = _text(annotations.get(ANNOTATION_REVISION))
    if url and revision:
        return SourceClaim(SourceOrigin.ANNOTATIONS, url, revision)
    descriptor = _config_descriptor(repository, manifest)
    name = _text(descriptor.get("name"))
    if url:
        return SourceClaim(SourceOrigin.ANNOTATIONS, url, revision, name)
    config_url = _text(descriptor.get("sourceURL"))
    if config_url:
        return SourceClaim(
            SourceOrigin.MODEL_CONFIG, config_url, _text(descriptor.get("revision")), name
        )
    return SourceClaim(SourceOrigin.UNKNOWN, None, None, name)


def provenance_for(
    *,
    digest: Digest,
    artifact_uri: str,
    claim: SourceClaim,
    repo_id: str | None,
    requested_revision: str | None,
    card: ModelCard | None,
    parent: ParentLink | None,
    signed_at: datetime,
) -> Provenance:
    """The provenance to sign: ``hub-snapshot`` for hubsnap's artifacts, else ``oci-artifact``."""
    if claim.hub_built:
        return Provenance(
            subject=digest,
            source_url=claim.url,
            repo_id=repo_id,
            requested_revision=requested_revision or claim.revision,
            commit=claim.revision,
            card=card,
            parent=parent,
            signed_at=signed_at,
        )
    return Provenance(
        subject=digest,
        source_url=claim.url,
        repo_id=None,
        requested_revision=None,
        commit=claim.revision,
        card=card,
        parent=parent,
        signed_at=signed_at,
        origin=claim.origin,
        artifact=artifact_uri,
    )


def _same_record(old: Provenance, new: Provenance, *, compare_requested: bool) -> bool:
    def essence(p: Provenance) -> Provenance:
        parent = p.parent
        if new.parent is None:
            # No parent found this time (say, the base was pushed elsewhere): a record that
            # names one knows more, not something else.
            parent = None
        return replace(
            p,
            signed_at=None,
            builder_version=None,
            artifact="" if p.artifact is not None else None,
            requested_revision=p.requested_revision if compare_requested else None,
            parent=parent,
        )

    return essence(old) == essence(new)


@dataclass(frozen=True)
class Reusable:
    """Valid signatures by the signing key already attached; ``None`` where there is none."""

    oms: SignatureCheck | None
    provenance: SignatureCheck | None


def find_reusable(
    scan: ReferrerScan,
    manifest: Manifest,
    digest: Digest,
    key: PublicKey,
    wanted: Provenance,
    *,
    compare_requested: bool,
) -> Reusable:
    """The newest attached OMS signature and matching provenance that ``key`` signed."""
    checks = [check_signature(r, manifest, digest, (key,)) for r in scan.referrers]
    oms = [c for c in checks if c.ok and c.kind is SignatureKind.OMS]
    provenances = [
        c
        for c in checks
        if c.ok
        and c.kind is SignatureKind.PROVENANCE
        and c.provenance is not None
        and _same_record(c.provenance, wanted, compare_requested=compare_requested)
    ]
    return Reusable(newest(oms), newest(provenances))


def model_name(claim: SourceClaim, repo_id: str | None, digest: Digest) -> str:
    """The name the OMS statement gives the model (``model_signing`` does not check it)."""
    return repo_id or claim.name or str(digest)
