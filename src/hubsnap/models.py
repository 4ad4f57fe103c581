"""OCI values: media types, descriptors and image manifests, typed and immutable.

Manifests are parsed from and rendered to canonical JSON here and nowhere else, so a
manifest built on any machine from the same inputs has the same bytes and digest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hubsnap.canonical import canonical_json, loads_object
from hubsnap.digest import Digest, sha256_bytes
from hubsnap.errors import IntegrityError, UsageError

__all__ = [
    "ARTIFACT_TYPE_MODEL",
    "ARTIFACT_TYPE_SIGSTORE_BUNDLE",
    "MEDIA_TYPE_EMPTY",
    "MEDIA_TYPE_IMAGE_INDEX",
    "MEDIA_TYPE_IMAGE_MANIFEST",
    "MEDIA_TYPE_MODEL_CODE",
    "MEDIA_TYPE_MODEL_CONFIG",
    "MEDIA_TYPE_MODEL_DOC",
    "MEDIA_TYPE_MODEL_WEIGHT",
    "MEDIA_TYPE_MODEL_WEIGHT_CONFIG",
    "MODEL_LAYER_MEDIA_TYPES",
    "Descriptor",
    "Index",
    "Manifest",
    "normalise_media_type",
]

MEDIA_TYPE_IMAGE_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_TYPE_IMAGE_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_TYPE_EMPTY = "application/vnd.oci.empty.v1+json"
EMPTY_JSON = b"{}"

ARTIFACT_TYPE_MODEL = "application/vnd.cncf.model.manifest.v1+json"
MEDIA_TYPE_MODEL_CONFIG = "application/vnd.cncf.model.config.v1+json"
MEDIA_TYPE_MODEL_WEIGHT = "application/vnd.cncf.model.weight.v1.raw"
MEDIA_TYPE_MODEL_WEIGHT_CONFIG = "application/vnd.cncf.model.weight.config.v1.raw"
MEDIA_TYPE_MODEL_DOC = "application/vnd.cncf.model.doc.v1.raw"
MEDIA_TYPE_MODEL_CODE = "application/vnd.cncf.model.code.v1.raw"
MODEL_LAYER_MEDIA_TYPES = frozenset(
    {
        MEDIA_TYPE_MODEL_WEIGHT,
        MEDIA_TYPE_MODEL_WEIGHT_CONFIG,
        MEDIA_TYPE_MODEL_DOC,
        MEDIA_TYPE_MODEL_CODE,
    }
)
ARTIFACT_TYPE_SIGSTORE_BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"

ANNOTATION_FILEPATH = "org.cncf.model.filepath"
ANNOTATION_FILE_METADATA = "org.cncf.model.file.metadata+json"
ANNOTATION_BLAKE3 = "dev.hubsnap.file.blake3"
#: ``"true"`` when the Hub stores the file in Git LFS, ``"false"`` when in plain git.
ANNOTATION_LFS = "dev.hubsnap.file.lfs"
ANNOTATION_TITLE = "org.opencontainers.image.title"
ANNOTATION_SOURCE = "org.opencontainers.image.source"
ANNOTATION_REVISION = "org.opencontainers.image.revision"
ANNOTATION_CREATED = "org.opencontainers.image.created"
ANNOTATION_LICENSES = "org.opencontainers.image.licenses"
ANNOTATION_BASE_NAME = "org.opencontainers.image.base.name"
ANNOTATION_BASE_DIGEST = "org.opencontainers.image.base.digest"

# The ModelPack spec was first published under the CNAI names; readers accept both.
_LEGACY_PREFIXES = (("application/vnd.cnai.", "application/vnd.cncf."), ("org.cnai.", "org.cncf."))

#: The most bytes hubsnap will read for one manifest, as registries commonly enforce.
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
_MAX_SIZE = 2**63 - 1


def normalise_media_type(value: str) -> str:
    """Map a legacy ``vnd.cnai`` / ``org.cnai`` name onto its ``cncf`` successor."""
    for old, new in _LEGACY_PREFIXES:
        if value.startswith(old):
            return new + value[len(old) :]
    return value


def _str_map(value: object, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ValueError(f"{what} must map strings to strings")
    return dict(value)


@dataclass(frozen=True)
class Descriptor:
    """An OCI content descriptor. ``annotations`` is empty when the JSON had none."""

    media_type: str
    digest: Digest
    size: int
    annotations: Mapping[str, str] = field(default_factory=dict)
    artifact_type: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": str(self.digest),
            "size": self.size,
        }
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    @classmethod
    def from_json(cls, value: object) -> Descriptor:
        if not isinstance(value, dict):
            raise ValueError("descriptor must be a JSON object")
        media_type, digest, size = value.get("mediaType"), value.get("digest"), value.get("size")
        if not isinstance(media_type, str) or not isinstance(digest, str):
            raise ValueError("descriptor needs string mediaType and digest")
        if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= _MAX_SIZE:
            raise ValueError("descriptor size must be a non-negative 63-bit integer")
        artifact_type = value.get("artifactType")
        if artifact_type is not None and not isinstance(artifact_type, str):
            raise ValueError("descriptor artifactType must be a string")
        try:
            parsed = Digest.parse(digest)
        except UsageError as e:
            # A digest typed on the command line is a usage error; one inside a document
            # is malformed content, which the document's parser reports as such.
            raise ValueError(e.message) from e
        return cls(
            media_type=media_type,
            digest=parsed,
            size=size,
            annotations=_str_map(value.get("annotations"), "descriptor annotations"),
            artifact_type=artifact_type or None,  # "" is written as absent
        )

    @property
    def filepath(self) -> str | None:
        """The layer's relative file path, from the ModelPack or legacy annotation."""
        for key in (ANNOTATION_FILEPATH, "org.cnai.model.filepath", ANNOTATION_TITLE):
            if key in self.annotations:
                return self.annotations[key]
        return None


def _optional_fields_from_json(
    value: dict[str, Any], what: str
) -> tuple[str | None, Descriptor | None, dict[str, str]]:
    """The fields a manifest and an index share: ``artifactType`` ("" reads as absent, as it
    is written), ``subject`` and ``annotations``."""
    artifact_type = value.get("artifactType")
    if artifact_type is not None and not isinstance(artifact_type, str):
        raise ValueError("artifactType must be a string")
    subject = value.get("subject")
    return (
        artifact_type or None,
        Descriptor.from_json(subject) if subject is not None else None,
        _str_map(value.get("annotations"), f"{what} annotations"),
    )


def _with_optional_fields(
    out: dict[str, Any],
    artifact_type: str | None,
    subject: Descriptor | None,
    annotations: Mapping[str, str],
) -> dict[str, Any]:
    """Add the fields a manifest and an index share, each only when it has a value (the
    image-spec's encoding omits empty ones, so a re-encoded document keeps its bytes)."""
    if artifact_type:
        out["artifactType"] = artifact_type
    if subject is not None:
        out["subject"] = subject.to_json()
    if annotations:
        out["annotations"] = dict(annotations)
    return out


@dataclass(frozen=True)
class Manifest:
    """An OCI image manifest (image-spec 1.1), possibly an artifact with a ``subject``."""

    config: Descriptor
    layers: tuple[Descriptor, ...]
    artifact_type: str | None = None
    subject: Descriptor | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)
    media_type: str = MEDIA_TYPE_IMAGE_MANIFEST

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": self.media_type,
            "config": self.config.to_json(),
            "layers": [layer.to_json() for layer in self.layers],
        }
        return _with_optional_fields(out, self.artifact_type, self.subject, self.annotations)

    def to_bytes(self) -> bytes:
        """Canonical JSON for a manifest hubsnap builds (an artifact, a signature referrer).

        Never the address of a manifest that was received: another tool may have written it
        differently, and its digest is that of the bytes as they arrived
        (:class:`hubsnap.oci.repository.VerifiedManifest`).
        """
        return canonical_json(self.to_json())

    @classmethod
    def from_bytes(cls, data: bytes, expected: Digest | None = None) -> Manifest:
        """Parse manifest bytes, checking their digest first when ``expected`` is given.

        The digest is checked on the raw bytes before parsing: a manifest is trusted by
        its address, never by what it says.
        """
        if len(data) > MAX_MANIFEST_BYTES:
            raise IntegrityError(f"manifest is {len(data)} bytes, over the 4 MiB limit")
        if expected is not None:
            actual = sha256_bytes(data) if expected.algorithm == "sha256" else None
            if actual != expected:
                raise IntegrityError(
                    f"manifest digest mismatch: asked for {expected}, got {actual}"
                )
        try:
            return cls._from_json(loads_object(data, "manifest", max_bytes=MAX_MANIFEST_BYTES))
        except ValueError as e:
            raise IntegrityError(f"malformed manifest: {e}") from e

    @classmethod
    def _from_json(cls, value: dict[str, Any]) -> Manifest:
        if value.get("schemaVersion") != 2:
            raise ValueError("schemaVersion must be 2")
        media_type = value.get("mediaType", MEDIA_TYPE_IMAGE_MANIFEST)
        if media_type != MEDIA_TYPE_IMAGE_MANIFEST:
            raise ValueError(f"unsupported manifest mediaType {media_type!r}")
        layers = value.get("layers")
        if not isinstance(layers, list):
            raise ValueError("layers must be a list")
        artifact_type, subject, annotations = _optional_fields_from_json(value, "manifest")
        return cls(
            config=Descriptor.from_json(value.get("config")),
            layers=tuple(Descriptor.from_json(layer) for layer in layers),
            artifact_type=artifact_type,
            subject=subject,
            annotations=annotations,
            media_type=media_type,
        )

    @property
    def is_model(self) -> bool:
        kind = normalise_media_type(self.artifact_type or self.config.media_type)
        return kind in (ARTIFACT_TYPE_MODEL, MEDIA_TYPE_MODEL_CONFIG)


@dataclass(frozen=True)
class Index:
    """An OCI image index (image-spec 1.1): a list of manifest descriptors, as a referrers
    response or a tag-schema referrers index is written."""

    manifests: tuple[Descriptor, ...]
    artifact_type: str | None = None
    subject: Descriptor | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)
    media_type: str = MEDIA_TYPE_IMAGE_INDEX

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": self.media_type,
            "manifests": [m.to_json() for m in self.manifests],
        }
        return _with_optional_fields(out, self.artifact_type, self.subject, self.annotations)

    def to_bytes(self) -> bytes:
        return canonical_json(self.to_json())

    @classmethod
    def from_bytes(cls, data: bytes, expected: Digest | None = None) -> Index:
        """Parse index bytes (digest checked first when ``expected`` is given);
        :class:`IntegrityError` naming what is wrong."""
        if len(data) > MAX_MANIFEST_BYTES:
            raise IntegrityError(f"index is {len(data)} bytes, over the 4 MiB limit")
        if expected is not None and sha256_bytes(data) != expected:
            raise IntegrityError(f"index digest mismatch: asked for {expected}")
        try:
            return cls.from_json(loads_object(data, "image index"))
        except ValueError as e:  # the bounded loader and Descriptor report all as ValueError
            raise IntegrityError(f"malformed image index: {e}") from e

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Index:
        if value.get("schemaVersion") != 2:
            raise ValueError("schemaVersion must be 2")
        media_type = value.get("mediaType", MEDIA_TYPE_IMAGE_INDEX)
        if media_type != MEDIA_TYPE_IMAGE_INDEX:
            raise ValueError(f"unsupported index mediaType {media_type!r}")
        manifests = value.get("manifests")
        if not isinstance(manifests, list):
            raise ValueError("manifests must be a list")
        artifact_type, subject, annotations = _optional_fields_from_json(value, "index")
        return cls(
            manifests=tuple(Descriptor.from_json(m) for m in manifests),
            artifact_type=artifact_type,
            subject=subject,
            annotations=annotations,
            media_type=media_type,
        )
