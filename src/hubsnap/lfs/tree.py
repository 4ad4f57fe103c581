"""An artifact's files as a git tree: which become LFS pointers, which plain blobs, and modes.

The Hub's own record decides when the artifact carries it (the layer annotation
``dev.hubsnap.file.lfs``, written at snapshot time); an artifact without it falls back on its
own ``.gitattributes`` files (``filter=lfs``), and an artifact without those on the ModelPack
layer kind: weight layers and files of 10 MiB or more (the Hub's limit for plain git files)
go to LFS. A pointer's oid is the layer digest: nothing is hashed again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from hubsnap.digest import Digest
from hubsnap.documents import load_json
from hubsnap.errors import IntegrityError, UsageError
from hubsnap.lfs.attributes import LfsAttributes
from hubsnap.lfs.fastimport import MODE_EXECUTABLE, MODE_FILE, TreeFile
from hubsnap.lfs.pointer import encode_pointer
from hubsnap.models import (
    ANNOTATION_FILE_METADATA,
    ANNOTATION_LFS,
    MEDIA_TYPE_MODEL_WEIGHT,
    Descriptor,
    normalise_media_type,
)

__all__ = ["ANNOTATION_LFS", "LFS_SIZE_THRESHOLD", "PlannedFile", "layer_executable", "plan_tree"]

#: Files this large go to LFS when nothing else says (the Hub refuses larger plain files).
LFS_SIZE_THRESHOLD = 10 * 1024 * 1024
#: The most bytes of a ``.gitattributes`` file that are read.
_MAX_ATTRIBUTES_BYTES = 1024 * 1024
#: Plain files up to this size are read once and held (their blob id and the commit both
#: need the bytes), up to :data:`_MAX_HELD_BYTES` in all; larger ones are streamed twice.
_MAX_HELD_FILE = 256 * 1024
_MAX_HELD_BYTES = 64 * 1024 * 1024
_MAX_METADATA_BYTES = 64 * 1024


@dataclass(frozen=True)
class PlannedFile:
    """One file of the tree and the layer it comes from; ``lfs`` when it is a pointer."""

    tree_file: TreeFile
    layer: Descriptor
    lfs: bool

    @property
    def path(self) -> str:
        return self.tree_file.path


def layer_executable(layer: Descriptor) -> bool:
    """Whether the layer's file metadata gives it an executable bit."""
    raw = layer.annotations.get(ANNOTATION_FILE_METADATA)
    if raw is None:
        return False
    try:
        metadata = load_json(raw, "file metadata", max_bytes=_MAX_METADATA_BYTES)
    except ValueError as e:
        raise IntegrityError(f"layer {layer.digest}: malformed file metadata") from e
    mode = metadata.get("mode") if isinstance(metadata, dict) else None
    return isinstance(mode, int) and not isinstance(mode, bool) and bool(mode & 0o111)


def _recorded(path: str, layer: Descriptor) -> bool | None:
    value = layer.annotations.get(ANNOTATION_LFS)
    if value is None:
        return None
    if value not in ("true", "false"):
        raise IntegrityError(f"{path}: {ANNOTATION_LFS} is {value[:20]!r}, not true or false")
    return value == "true"


def plan_tree(
    files: Sequence[tuple[str, Descriptor]],
    blob_path: Callable[[Digest], Path],
    read_small: Callable[[Digest, int], bytes],
) -> list[PlannedFile]:
    """Plan the tree of ``files`` (checked ``(path, layer)`` pairs); ``blob_path`` locates a
    verified blob and ``read_small`` reads one whole, up to a limit."""
    attributes = LfsAttributes(
        {
            path: read_small(layer.digest, _MAX_ATTRIBUTES_BYTES)
            for path, layer in files
            if LfsAttributes.is_attributes_file(path)
        }
    )
    directories = {
        "/".join(parts[:depth])
        for parts in (path.split("/") for path, _ in files)
        for depth in range(1, len(parts))
    }
    planned = []
    held = 0
    for path, layer in sorted(files, key=lambda f: f[0].encode()):
        if path in directories:
            raise IntegrityError(f"{path!r} is both a file and a folder in the artifact")
        lfs = _recorded(path, layer)
        if lfs is None and attributes:
            lfs = attributes.routes_to_lfs(path)
        if lfs is None:
            weight = normalise_media_type(layer.media_type) == MEDIA_TYPE_MODEL_WEIGHT
            lfs = weight or layer.size >= LFS_SIZE_THRESHOLD
        mode = MODE_EXECUTABLE if layer_executable(layer) else MODE_FILE
        if lfs:
            if layer.digest.algorithm != "sha256":
                raise UsageError(f"{path}: a Git LFS object needs a sha256 digest")
            pointer = encode_pointer(layer.digest.hex, layer.size)
            tree_file = TreeFile(path, mode, data=pointer)
        elif layer.size <= _MAX_HELD_FILE and held + layer.size <= _MAX_HELD_BYTES:
            held += layer.size
            tree_file = TreeFile(path, mode, data=read_small(layer.digest, layer.size))
        else:
            tree_file = TreeFile(path, mode, source=blob_path(layer.digest), size=layer.size)
        planned.append(PlannedFile(tree_file, layer, lfs))
    return planned
