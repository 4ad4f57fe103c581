"""The ModelPack artifact: which media type each file gets, and the config and manifest bytes.

One raw layer per file in lexicographic path order, constant file metadata, annotations
derived only from the Hub commit (its date, not the clock): the same commit and file
selection give byte-identical config and manifest, hence the same digest, anywhere.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from hubsnap.canonical import canonical_json, loads_object
from hubsnap.digest import Digest, sha256_bytes
from hubsnap.errors import IntegrityError, UsageError
from hubsnap.fsutil import check_relative_path
from hubsnap.models import (
    ANNOTATION_BASE_DIGEST,
    ANNOTATION_BASE_NAME,
    ANNOTATION_BLAKE3,
    ANNOTATION_CREATED,
    ANNOTATION_FILE_METADATA,
    ANNOTATION_FILEPATH,
    ANNOTATION_LFS,
    ANNOTATION_LICENSES,
    ANNOTATION_REVISION,
    ANNOTATION_SOURCE,
    ANNOTATION_TITLE,
    ARTIFACT_TYPE_MODEL,
    MEDIA_TYPE_MODEL_CODE,
    MEDIA_TYPE_MODEL_CONFIG,
    MEDIA_TYPE_MODEL_DOC,
    MEDIA_TYPE_MODEL_WEIGHT,
    MEDIA_TYPE_MODEL_WEIGHT_CONFIG,
    MODEL_LAYER_MEDIA_TYPES,
    Descriptor,
    Manifest,
    normalise_media_type,
)

__all__ = [
    "LayerFile",
    "ModelArtifact",
    "ModelSource",
    "build_model_artifact",
    "checked_layer_paths",
    "layer_media_type",
    "model_files",
    "parse_model_config",
]

_WEIGHT_PATTERNS = (
    "*.safetensors", "*.bin", "*.onnx", "*.onnx_data", "*.gguf", "*.pt", "*.pth", "*.ckpt",
    "*.h5", "*.msgpack", "*.tflite", "*.mlmodel", "*.npz", "*.npy", "*.ot", "*.pb",
    "*.keras", "*.joblib", "*.pkl", "*.llamafile",
)  # fmt: skip
_CONFIG_PATTERNS = (
    "*.json", "vocab.txt", "merges.txt", "*.model", "*.tiktoken", "*.yaml", "*.yml",
    "*.vocab", "*.spm", "tokenizer*", "*.txt.vocab",
)  # fmt: skip
_CODE_PATTERNS = ("*.py", "*.ipynb", "*.sh")

#: ModelPack per-file metadata: constant so that the digest depends on content only.
_EPOCH = "1970-01-01T00:00:00Z"


def layer_media_type(path: str) -> str:
    """The ModelPack layer media type for a repository file path."""
    name = PurePosixPath(path).name.lower()
    if name.endswith(".index.json"):
        return MEDIA_TYPE_MODEL_WEIGHT_CONFIG
    for patterns, media_type in (
        (_WEIGHT_PATTERNS, MEDIA_TYPE_MODEL_WEIGHT),
        (_CODE_PATTERNS, MEDIA_TYPE_MODEL_CODE),
        (_CONFIG_PATTERNS, MEDIA_TYPE_MODEL_WEIGHT_CONFIG),
    ):
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns):
            return media_type
    return MEDIA_TYPE_MODEL_DOC


@dataclass(frozen=True)
class LayerFile:
    """One file of a model as it becomes a layer; ``blake3`` is ``None`` when unknown, and
    ``lfs`` (whether the Hub stores the file in Git LFS) too. ``executable`` files (only a git
    tree can say so: the Hub records no file modes) get mode 0755 in their file metadata."""

    path: str
    digest: Digest
    size: int
    blake3: str | None = None
    lfs: bool | None = None
    executable: bool = False


@dataclass(frozen=True)
class ModelSource:
    """Where the model comes from. Optional fields are ``None`` when the Hub has no value."""

    repo_id: str
    commit: str
    source_url: str
    created: str
    licenses: tuple[str, ...] = ()
    base_name: str | None = None
    base_digest: Digest | None = None
    architecture: str | None = None
    model_format: str | None = None
    extra_annotations: tuple[tuple[str, str], ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class ModelArtifact:
    """A built artifact: config and manifest bytes ready to store or push."""

    config_bytes: bytes
    manifest: Manifest
    manifest_bytes: bytes

    @property
    def digest(self) -> Digest:
        return sha256_bytes(self.manifest_bytes)


def _file_metadata(file: LayerFile) -> str:
    metadata = {
        "name": file.path,
        "mode": 0o755 if file.executable else 0o644,
        "uid": 0,
        "gid": 0,
        "size": file.size,
        "mtime": _EPOCH,
        "typeflag": 48,  # '0': a regular file, as in tar headers
    }
    return canonical_json(metadata).decode()


def _layer(file: LayerFile) -> Descriptor:
    annotations = {
        ANNOTATION_FILEPATH: file.path,
        ANNOTATION_TITLE: file.path,
        ANNOTATION_FILE_METADATA: _file_metadata(file),
    }
    if file.blake3:
        annotations[ANNOTATION_BLAKE3] = f"blake3:{file.blake3}"
    if file.lfs is not None:
        annotations[ANNOTATION_LFS] = "true" if file.lfs else "false"
    return Descriptor(layer_media_type(file.path), file.digest, file.size, annotations)


def build_model_artifact(files: Iterable[LayerFile], source: ModelSource) -> ModelArtifact:
    """Build the ModelPack config and manifest for ``files`` (any order; sorted here)."""
    ordered = sorted(files, key=lambda f: f.path.encode("utf-8"))
    seen: set[str] = set()
    for file in ordered:
        check_relative_path(file.path, "file path")
        if file.path in seen:
            raise UsageError(f"duplicate file path {file.path!r}")
        seen.add(file.path)
    if not ordered:
        raise UsageError(f"no files selected from {source.repo_id}@{source.commit}")
    descriptor: dict[str, object] = {
        "name": source.repo_id,
        "sourceURL": source.source_url,
        "revision": source.commit,
        "createdAt": source.created,
    }
    if source.licenses:
        descriptor["licenses"] = list(source.licenses)
    model_config: dict[str, object] = {}
    if source.architecture:
        model_config["architecture"] = source.architecture
    if source.model_format:
        model_config["format"] = source.model_format
    config = {
        "descriptor": descriptor,
        "config": model_config,
        "modelfs": {"type": "layers", "diffIds": [str(f.digest) for f in ordered]},
    }
    config_bytes = canonical_json(config)
    annotations = {
        ANNOTATION_SOURCE: source.source_url,
        ANNOTATION_REVISION: source.commit,
        ANNOTATION_CREATED: source.created,
    }
    if source.licenses:
        annotations[ANNOTATION_LICENSES] = " AND ".join(source.licenses)
    if source.base_name:
        annotations[ANNOTATION_BASE_NAME] = source.base_name
    if source.base_digest is not None:
        annotations[ANNOTATION_BASE_DIGEST] = str(source.base_digest)
    annotations.update(dict(source.extra_annotations))
    manifest = Manifest(
        config=Descriptor(MEDIA_TYPE_MODEL_CONFIG, sha256_bytes(config_bytes), len(config_bytes)),
        layers=tuple(_layer(f) for f in ordered),
        artifact_type=ARTIFACT_TYPE_MODEL,
        annotations=annotations,
    )
    return ModelArtifact(config_bytes, manifest, manifest.to_bytes())


def checked_layer_paths(
    pairs: Iterable[tuple[str, Descriptor]],
) -> list[tuple[str, Descriptor]]:
    """``(path, layer)`` pairs with every path checked as a safe relative path, none twice."""
    out: list[tuple[str, Descriptor]] = []
    seen: set[str] = set()
    for path, layer in pairs:
        check_relative_path(path, "layer path")
        if path in seen:
            raise IntegrityError(f"layer path {path!r} appears twice")
        seen.add(path)
        out.append((path, layer))
    return out


def _annotated_path(layer: Descriptor) -> tuple[str, Descriptor]:
    if layer.filepath is None:
        raise IntegrityError(f"layer {layer.digest} has no file path annotation")
    return layer.filepath, layer


def model_files(manifest: Manifest) -> list[tuple[str, Descriptor]]:
    """The ``(path, layer)`` pairs of a model manifest, paths checked, legacy names accepted."""
    return checked_layer_paths(
        _annotated_path(layer)
        for layer in manifest.layers
        if normalise_media_type(layer.media_type) in MODEL_LAYER_MEDIA_TYPES
    )


def parse_model_config(data: bytes) -> dict[str, object]:
    try:
        return loads_object(data, "model config")
    except ValueError as e:
        raise IntegrityError(str(e)) from e
