"""An artifact's files written out into a directory, each verified as it is written.

:func:`materialise` carries out a :class:`~hubsnap.oci.directory.DestinationPlan`: a blob the
local store holds is copied from there, any other streams from the source straight into the
directory (each byte written once), or, with ``link``, a file is a hard link to its verified
store blob. A damaged store blob is named with the way to repair it whenever it is used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from hubsnap.digest import Digest, hash_chunks, hash_file
from hubsnap.errors import IntegrityError, NotFoundError
from hubsnap.models import Descriptor, Manifest
from hubsnap.oci.artifact import checked_layer_paths, model_files
from hubsnap.oci.directory import DestinationPlan, capped, write_plan
from hubsnap.oci.layout import damaged_blob
from hubsnap.oci.repository import LayoutRepository, Repository
from hubsnap.progress import Progress, transfer_progress

__all__ = [
    "Materialised",
    "PulledFile",
    "file_layers",
    "linked_here",
    "materialise",
]


@dataclass(frozen=True)
class PulledFile:
    """One file a pull put (or found already) in its directory."""

    path: str
    digest: Digest
    size: int


@dataclass(frozen=True)
class Materialised:
    """What :func:`materialise` wrote; ``blobs_fetched`` / ``bytes_fetched`` count what came
    from the source rather than from the local store."""

    files: tuple[PulledFile, ...]
    blobs_fetched: int
    bytes_fetched: int


def file_layers(manifest: Manifest) -> list[tuple[str, Descriptor]]:
    """The ``(path, layer)`` pairs a pull writes, every path checked.

    Model artifacts use the ModelPack path annotations; other artifacts (e.g. pushed by
    oras) the layers that carry an ``org.opencontainers.image.title``.
    """
    if manifest.is_model:
        return model_files(manifest)
    return checked_layer_paths(
        (layer.filepath, layer) for layer in manifest.layers if layer.filepath is not None
    )


def linked_here(local: LayoutRepository) -> Callable[[Path, Descriptor], bool]:
    """Whether an existing file is already a hard link to the store's blob of its layer.

    Such a file *is* the blob, so it is hashed here: a damaged blob is reported as the
    store's (with the repair), not as a file of the user's in the way.
    """
    store = local.store

    def same(target: Path, layer: Descriptor) -> bool:
        if not store.has_blob(layer.digest, layer.size):
            return False
        blob, existing = store.blob_path(layer.digest).stat(), target.stat()
        if (blob.st_dev, blob.st_ino) != (existing.st_dev, existing.st_ino):
            return False
        digests = hash_file(target)
        if digests.sha256 != layer.digest or digests.size != layer.size:
            raise IntegrityError(
                f"{target}: digest mismatch (expected {layer.digest}, got {digests.sha256})"
                + damaged_blob(store, layer.digest)
            )
        return True

    return same


def materialise(
    plan: DestinationPlan,
    local: LayoutRepository,
    source: Repository | None,
    *,
    link: bool = False,
    verified: frozenset[Digest] = frozenset(),
    check: Descriptor | None = None,
    label: str = "",
) -> Materialised:
    """Write the planned files, each verified against its layer digest while it is written.

    A blob the store holds is copied from there (never downloaded again); any other is
    streamed from ``source`` straight into the directory, so each byte is written once.
    With ``link`` a file is a hard link to its store blob where both share a filesystem; such
    files share their bytes with the store and are read-only. Blobs in ``verified`` were
    hashed as they arrived in this pull; any other blob is hashed again before it is linked,
    since the store may have been changed behind hubsnap's back. ``check`` names a blob that
    is not written but must be present and intact (the config), hashed as it streams past.
    """
    store = local.store
    fetched: list[int] = []

    def chunks(layer: Descriptor) -> Iterable[bytes]:
        if store.has_blob(layer.digest, layer.size):
            return _metered(store.iter_blob(layer.digest), progress)
        if source is None:
            raise NotFoundError(f"blob {layer.digest} is not in the local store")
        fetched.append(layer.size)
        return _metered(source.iter_blob(layer.digest, size=layer.size), progress)

    def stored(layer: Descriptor) -> str | None:
        in_store = store.has_blob(layer.digest, layer.size)
        return damaged_blob(store, layer.digest) if in_store else None

    def linkable(layer: Descriptor) -> Path | None:
        if not link or not store.has_blob(layer.digest, layer.size):
            return None
        blob = store.blob_path(layer.digest)
        if layer.digest not in verified:
            digests = hash_file(blob)
            if digests.sha256 != layer.digest or digests.size != layer.size:
                raise IntegrityError(
                    f"{_path_of(plan, layer)}: digest mismatch (expected {layer.digest}, "
                    f"got {digests.sha256}){damaged_blob(store, layer.digest)}"
                )
        return blob

    if check is not None and not store.has_blob(check.digest, check.size):
        if source is None:
            raise NotFoundError(f"blob {check.digest} is not in the local store")
        digests = hash_chunks(capped(source.iter_blob(check.digest, size=check.size), check))
        if digests.sha256 != check.digest or digests.size != check.size:
            raise IntegrityError(
                f"blob digest mismatch: expected {check.digest}, got {digests.sha256}"
            )
        fetched.append(check.size)
    total = sum(f.layer.size for f in plan.files if not f.present)
    with transfer_progress(f"{label} → {plan.directory}".lstrip(), total) as progress:
        write_plan(plan, chunks, link=linkable, damaged_hint=stored)
    files = tuple(PulledFile(f.path, f.layer.digest, f.layer.size) for f in plan.files)
    return Materialised(files, len(fetched), sum(fetched))


def _path_of(plan: DestinationPlan, layer: Descriptor) -> str:
    return next(f.path for f in plan.files if f.layer.digest == layer.digest)


def _metered(chunks: Iterable[bytes], progress: Progress) -> Iterator[bytes]:
    for chunk in chunks:
        progress.advance(len(chunk))
        yield chunk
