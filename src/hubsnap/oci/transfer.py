"""Moving artifacts: between any two repositories, and out of the local store into a directory.

:func:`copy_artifact` copies blobs first (a few at once, skipping what the target has,
mounting what the same registry holds in another repository, streaming the rest) and the
manifest last, so a target never names a blob it lacks; referrers (signatures, provenance)
follow their subject. Which repositories hold a blob is known from the source (when it is on
the target's registry) and from :class:`~hubsnap.oci.sightings.BlobSightings`, which every
copy to or from a registry fills. :func:`materialise` writes a stored model's files into a
directory: every path is checked before the first write, a symlink at or above a destination
is refused, and each file is verified against its layer digest while it is copied into a
temp file that is only then renamed into place.
"""

from __future__ import annotations

import errno
import os
import secrets
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from hubsnap.digest import Digest, StreamHasher, check_digest, hash_file
from hubsnap.errors import HubsnapError, IntegrityError
from hubsnap.fsutil import atomic_writer, safe_destination
from hubsnap.models import MEDIA_TYPE_IMAGE_MANIFEST, Descriptor, Manifest
from hubsnap.oci.artifact import checked_layer_paths, model_files
from hubsnap.oci.layout import LayoutStore
from hubsnap.oci.registry import RegistryRepository
from hubsnap.oci.repository import LayoutRepository, Repository
from hubsnap.oci.sightings import BlobSightings
from hubsnap.progress import Progress, transfer_progress

__all__ = [
    "DEFAULT_WORKERS",
    "CopyResult",
    "PulledFile",
    "check_destinations",
    "copy_artifact",
    "file_layers",
    "materialise",
    "read_manifest",
]

#: Blobs transferred at once: enough to hide round trips, few enough to be polite.
DEFAULT_WORKERS = 4
_MAX_REFERRER_DEPTH = 8


@dataclass(frozen=True)
class CopyResult:
    """What :func:`copy_artifact` did (or, with ``dry_run``, would do).

    ``blobs_sent`` / ``bytes_sent`` count blobs whose bytes moved; ``blobs_mounted`` those
    the registry linked from another repository; the rest were already present.
    ``referrers`` lists the referrer manifests copied along, depth first; ``sent`` the
    digests of the artifact's blobs whose bytes moved (and were verified) in this copy.
    """

    digest: Digest
    manifest: Manifest
    blobs_total: int
    blobs_sent: int
    blobs_mounted: int
    bytes_sent: int
    referrers: tuple[Digest, ...] = ()
    sent: frozenset[Digest] = frozenset()


def read_manifest(source: Repository, digest: Digest, cache: Repository | None = None) -> bytes:
    """The manifest bytes for ``digest``, from ``cache`` when it already holds them."""
    if isinstance(cache, LayoutRepository) and cache.has_blob(digest):
        return cache.get_manifest(digest)[0]
    return source.get_manifest(digest)[0]


def _blob_opener(source: Repository, digest: Digest) -> Callable[[], Iterable[bytes]]:
    return lambda: source.iter_blob(digest)


def _metered(chunks: Iterable[bytes], progress: Progress) -> Iterator[bytes]:
    for chunk in chunks:
        progress.advance(len(chunk))
        yield chunk


def _mount_sources(
    source: Repository, target: RegistryRepository, digest: Digest, sightings: BlobSightings | None
) -> list[str]:
    """Repositories on ``target``'s registry that should hold ``digest``, best bet first."""
    found: list[str] = []
    if (
        isinstance(source, RegistryRepository)
        and source.client.base_url == target.client.base_url
        and source.repository != target.repository
    ):
        found.append(source.repository)
    if sightings is not None:
        seen = sightings.repositories(target.registry, digest, exclude=target.repository)
        found += [name for name in seen if name not in found]
    return found


def _mount(
    target: RegistryRepository,
    blob: Descriptor,
    source: Repository,
    sightings: BlobSightings | None,
) -> bool:
    """Try to mount ``blob`` from each known holder; ``False`` if none would lend it."""
    for repository in _mount_sources(source, target, blob.digest, sightings):
        try:
            if target.mount_blob(blob.digest, repository):
                return True
        except HubsnapError:
            pass  # e.g. no pull access to that repository: an upload still works
        if sightings is not None:
            sightings.forget(target.registry, repository, blob.digest)
    return False


def _copy_blob(
    source: Repository,
    target: Repository,
    blob: Descriptor,
    progress: Progress,
    sightings: BlobSightings | None,
) -> str:
    """Copy one blob; returns ``present``, ``mounted`` or ``sent``."""
    if target.has_blob(blob.digest, blob.size):
        return "present"
    if isinstance(target, RegistryRepository):
        if _mount(target, blob, source, sightings):
            return "mounted"
        target.upload_blob(blob.digest, blob.size, _blob_opener(source, blob.digest), progress)
        return "sent"
    if isinstance(target, LayoutRepository):
        with target.store.writer() as writer:
            for chunk in _metered(source.iter_blob(blob.digest), progress):
                writer.write(chunk)
            writer.commit(blob.digest, blob.size)  # checks digest and size, then renames
        return "sent"
    data = source.get_blob_bytes(blob.digest, blob.size)
    target.put_blob_bytes(data)
    progress.advance(len(data))
    return "sent"


def copy_artifact(
    source: Repository,
    target: Repository,
    digest: Digest,
    *,
    tag: str | None = None,
    referrers: bool = True,
    dry_run: bool = False,
    workers: int = DEFAULT_WORKERS,
    manifest_bytes: bytes | None = None,
    sightings: BlobSightings | None = None,
) -> CopyResult:
    """Copy the manifest ``digest`` and its blobs (and referrers) from ``source`` to ``target``.

    ``manifest_bytes`` may carry the manifest already read (and verified) by the caller.
    ``sightings`` is consulted for mounts and told where the blobs were found and put.
    With ``dry_run`` nothing is written: the result says what would be sent.
    """
    return _copy(
        source,
        target,
        digest,
        tag=tag,
        referrers=referrers,
        dry_run=dry_run,
        workers=workers,
        manifest_bytes=manifest_bytes,
        sightings=sightings,
        depth=0,
    )


def _copy(
    source: Repository,
    target: Repository,
    digest: Digest,
    *,
    tag: str | None,
    referrers: bool,
    dry_run: bool,
    workers: int,
    manifest_bytes: bytes | None,
    sightings: BlobSightings | None,
    depth: int,
) -> CopyResult:
    data = manifest_bytes or read_manifest(source, digest, target)
    manifest = Manifest.from_bytes(data, digest)
    blobs = list({b.digest: b for b in (manifest.config, *manifest.layers)}.values())
    if dry_run:
        missing = [b for b in blobs if not target.has_blob(b.digest, b.size)]
        return CopyResult(
            digest, manifest, len(blobs), len(missing), 0, sum(b.size for b in missing)
        )
    total = sum(b.size for b in blobs)
    with (
        transfer_progress(f"{digest.hex[:12]} → {target.describe()}", total) as progress,
        ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="blob") as pool,
    ):
        outcomes = list(
            pool.map(lambda b: _copy_blob(source, target, b, progress, sightings), blobs)
        )
    target.put_manifest(data, tag)
    if sightings is not None:
        # Both ends now hold every blob the manifest names (a registry refuses a manifest
        # whose blobs it lacks).
        for end in (source, target):
            if isinstance(end, RegistryRepository):
                sightings.record(end.registry, end.repository, (b.digest for b in blobs))
    copied: list[Digest] = []
    if referrers and depth < _MAX_REFERRER_DEPTH:
        for referrer in source.referrers(digest):
            if referrer.media_type != MEDIA_TYPE_IMAGE_MANIFEST:
                continue
            inner = _copy(
                source,
                target,
                referrer.digest,
                tag=None,
                referrers=True,
                dry_run=False,
                workers=workers,
                manifest_bytes=None,
                sightings=sightings,
                depth=depth + 1,
            )
            copied += [referrer.digest, *inner.referrers]
    sent = [b for b, outcome in zip(blobs, outcomes, strict=True) if outcome == "sent"]
    return CopyResult(
        digest=digest,
        manifest=manifest,
        blobs_total=len(blobs),
        blobs_sent=len(sent),
        blobs_mounted=outcomes.count("mounted"),
        bytes_sent=sum(b.size for b in sent),
        referrers=tuple(copied),
        sent=frozenset(b.digest for b in sent),
    )


# -- into a directory -------------------------------------------------------------------------


@dataclass(frozen=True)
class PulledFile:
    """One file written by :func:`materialise`."""

    path: str
    digest: Digest
    size: int


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


def check_destinations(directory: Path, paths: Iterable[str]) -> None:
    """Refuse, before anything is written, any symlink at or above a destination path."""
    if directory.is_symlink():
        raise IntegrityError(f"refusing to write through symlink {directory}")
    for name in paths:
        current = directory
        for part in PurePosixPath(name).parts:
            current = current / part
            if current.is_symlink():
                raise IntegrityError(f"refusing to write through symlink {current}")
            if not current.exists():
                break


def materialise(
    store: LayoutStore,
    manifest: Manifest,
    directory: Path,
    *,
    link: bool = True,
    verified: frozenset[Digest] = frozenset(),
) -> list[PulledFile]:
    """Write the artifact's files from ``store`` into ``directory``, each verified.

    With ``link`` a file is a hard link to its store blob where both are on one filesystem,
    so a pull writes each byte to disk once; like the store's blobs, such files are
    read-only (pnpm and Nix lay out their stores the same way). Blobs in ``verified`` were
    hashed as they arrived in this pull; any other blob is hashed again before it is linked,
    since the store may have been changed behind hubsnap's back. Otherwise, and wherever a
    link is impossible, the file is an independent copy, hashed while it is written.
    """
    layers = file_layers(manifest)
    check_destinations(directory, (path for path, _ in layers))
    written = []
    for path, layer in layers:
        target = safe_destination(directory, path, "layer path")
        if not (link and _link_blob(store, layer, target, verified, path)):
            _copy_blob_to(store, layer, target, path)
        written.append(PulledFile(path, layer.digest, layer.size))
    return written


def _link_blob(
    store: LayoutStore, layer: Descriptor, target: Path, verified: frozenset[Digest], path: str
) -> bool:
    """Hard-link the blob to ``target`` (atomically); ``False`` where links are impossible."""
    blob = store.blob_path(layer.digest)
    if layer.digest not in verified:
        digests = hash_file(blob)
        check_digest(layer.digest, digests.sha256, path)
        if digests.size != layer.size:
            raise IntegrityError(f"{path}: size {digests.size}, expected {layer.size}")
    temp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.link")
    try:
        os.link(blob, temp)
    except OSError as e:
        if e.errno in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            return False
        raise
    try:
        temp.replace(target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return True


def _copy_blob_to(store: LayoutStore, layer: Descriptor, target: Path, path: str) -> None:
    with atomic_writer(target) as out:
        hasher = StreamHasher()
        try:
            for chunk in store.iter_blob(layer.digest):
                out.write(chunk)
                hasher.update(chunk)
        except BaseException:
            hasher.close()
            raise
        digests = hasher.finish()
        check_digest(layer.digest, digests.sha256, path)
        if digests.size != layer.size:
            raise IntegrityError(f"{path}: size {digests.size}, expected {layer.size}")
