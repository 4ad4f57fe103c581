"""Moving artifacts: between any two repositories, and out of the local store into a directory.

:func:`copy_artifact` copies blobs first (a few at once, skipping what the target has,
mounting what the same registry holds in another repository, streaming the rest) and the
manifest last, so a target never names a blob it lacks; referrers (signatures, provenance)
follow their subject, each once and at most :data:`MAX_REFERRERS` of them (a referrers index
is remote data and may loop or list thousands). Which repositories hold a blob is known from
the source (when it is on the target's registry) and from
:class:`~hubsnap.oci.sightings.BlobSightings`, which every copy to or from a registry fills.
Writing an artifact's files into a directory is :mod:`hubsnap.oci.materialise`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from hubsnap.digest import Digest, StreamHasher
from hubsnap.errors import HubsnapError, IntegrityError, NotFoundError
from hubsnap.models import MEDIA_TYPE_IMAGE_MANIFEST, Descriptor, Manifest
from hubsnap.oci.directory import capped
from hubsnap.oci.layout import LayoutStore, damaged_blob
from hubsnap.oci.registry import RegistryRepository
from hubsnap.oci.repository import LayoutRepository, Repository
from hubsnap.oci.sightings import BlobSightings
from hubsnap.progress import Progress, transfer_progress

__all__ = [
    "DEFAULT_WORKERS",
    "MAX_REFERRERS",
    "CopyResult",
    "ReferrerWalk",
    "copy_artifact",
    "read_manifest",
]

#: Blobs transferred at once: enough to hide round trips, few enough to be polite.
DEFAULT_WORKERS = 4
_MAX_REFERRER_DEPTH = 8
#: Referrers followed from one artifact, in all: a referrers index may list anything.
MAX_REFERRERS = 1000


class ReferrerWalk:
    """The referrers a walk from ``root`` follows: each once, never one already on the walk
    (a referrer listing itself or its subject), at most ``limit`` in all, and only those whose
    own ``subject`` really is the digest asked about. ``warnings`` says what was left out.
    """

    def __init__(self, root: Digest, limit: int | None = None) -> None:
        self.root = root
        self.limit = MAX_REFERRERS if limit is None else limit
        self.visited: set[Digest] = {root}
        self._capped = False
        self._missing: list[Digest] = []
        self._strays: list[tuple[Digest, Digest]] = []

    @property
    def warnings(self) -> list[str]:
        """What the walk left out, one line per kind (a hostile index may list thousands)."""
        out = []
        if self._strays:
            digest, subject = self._strays[0]
            more = f" (and {len(self._strays) - 1} more)" if len(self._strays) > 1 else ""
            out.append(f"ignoring referrer {digest}{more}: its subject is not {subject}")
        if self._missing:
            more = f" (and {len(self._missing) - 1} more)" if len(self._missing) > 1 else ""
            out.append(f"ignoring referrer {self._missing[0]}{more}: its manifest is not found")
        if self._capped:
            out.append(
                f"{self.root} has more than {self.limit} referrers: "
                f"only the first {self.limit} are followed"
            )
        return out

    def children(self, repo: Repository, subject: Digest) -> list[Descriptor]:
        """``subject``'s referrers not seen before, within the limit."""
        found: list[Descriptor] = []
        for descriptor in repo.referrers(subject):
            if descriptor.digest in self.visited:
                continue
            if len(self.visited) > self.limit:
                self._capped = True
                break
            self.visited.add(descriptor.digest)
            found.append(descriptor)
        return found

    def manifest(self, repo: Repository, digest: Digest) -> tuple[bytes, Manifest] | None:
        """A listed referrer's manifest, or ``None`` (with a warning) when it is gone."""
        try:
            return repo.get_manifest(digest)
        except NotFoundError:
            self._missing.append(digest)
            return None

    def accepts(self, manifest: Manifest, digest: Digest, subject: Digest) -> bool:
        """Whether ``manifest`` (listed as a referrer of ``subject``) names it as its subject."""
        if manifest.subject is not None and manifest.subject.digest == subject:
            return True
        self._strays.append((digest, subject))
        return False


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
    warnings: tuple[str, ...] = ()


def read_manifest(source: Repository, digest: Digest, cache: Repository | None = None) -> bytes:
    """The manifest bytes for ``digest``, from ``cache`` when it already holds them."""
    if isinstance(cache, LayoutRepository) and cache.has_blob(digest):
        return cache.get_manifest(digest)[0]
    return source.get_manifest(digest)[0]


def _blob_opener(source: Repository, blob: Descriptor) -> Callable[[], Iterable[bytes]]:
    if isinstance(source, LayoutRepository):
        return lambda: _checked_store_blob(source.store, blob)
    return lambda: source.iter_blob(blob.digest)


def _checked_store_blob(store: LayoutStore, blob: Descriptor) -> Iterator[bytes]:
    """A layout's blob, hashed as it streams: a damaged one fails the copy, with the repair
    named, before the end of its bytes is sent (a registry would refuse it, saying less)."""
    hasher = StreamHasher()
    try:
        for chunk in store.iter_blob(blob.digest):
            hasher.update(chunk)
            yield chunk
    except BaseException:
        hasher.close()
        raise
    digests = hasher.finish()
    if digests.sha256 != blob.digest or digests.size != blob.size:
        raise IntegrityError(
            f"blob {blob.digest} in {store.root}: digest mismatch (got {digests.sha256})"
            + damaged_blob(store, blob.digest)
        )


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
        target.upload_blob(blob.digest, blob.size, _blob_opener(source, blob), progress)
        return "sent"
    if isinstance(target, LayoutRepository):
        with target.store.writer() as writer:
            for chunk in _metered(capped(_blob_opener(source, blob)(), blob), progress):
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
    walk = ReferrerWalk(digest)
    result = _copy(
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
        walk=walk,
    )
    assert result is not None  # only a referrer can be refused
    return replace(result, warnings=tuple(walk.warnings))


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
    walk: ReferrerWalk,
    subject: Digest | None = None,
) -> CopyResult | None:
    if subject is None:
        data = manifest_bytes or read_manifest(source, digest, target)
        manifest = Manifest.from_bytes(data, digest)
    else:
        found = walk.manifest(source, digest)
        if found is None or not walk.accepts(found[1], digest, subject):
            return None
        data, manifest = found
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
        for referrer in walk.children(source, digest):
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
                walk=walk,
                subject=digest,
            )
            if inner is not None:
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
