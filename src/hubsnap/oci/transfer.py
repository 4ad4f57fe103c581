"""Moving artifacts: between any two repositories, and out of the local store into a directory.

:func:`copy_artifact` copies blobs first (a few at once, skipping what the target has,
mounting what the same registry holds in another repository, streaming the rest) and the
manifest last, so a target never names a blob it lacks (a registry that refuses the manifest
and then says it lacks a blob is sent that blob again, once); referrers (signatures, provenance)
follow their subject, each once and at most :data:`MAX_REFERRERS` of them (a referrers index
is remote data and may loop or list thousands). Which repositories hold a blob is known from
the source (when it is on the target's registry) and from
:class:`~hubsnap.oci.sightings.BlobSightings`, which every copy to or from a registry fills.
Writing an artifact's files into a directory is :mod:`hubsnap.oci.materialise`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from hubsnap.digest import Digest
from hubsnap.errors import HubsnapError, NotFoundError
from hubsnap.models import MEDIA_TYPE_IMAGE_MANIFEST, Descriptor, Manifest
from hubsnap.oci.directory import capped
from hubsnap.oci.repository import BlobsMissing, Repository, VerifiedManifest
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

    def manifest(self, repo: Repository, digest: Digest) -> VerifiedManifest | None:
        """A listed referrer's manifest, or ``None`` (with a warning) when it is gone."""
        try:
            return repo.manifest(digest)
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


def read_manifest(
    source: Repository, digest: Digest, cache: Repository | None = None
) -> VerifiedManifest:
    """The manifest ``digest`` names, from ``cache`` when that is a layout already holding it
    (a layout keeps manifests as blobs; a registry can only be asked for them)."""
    if cache is not None and cache.registry is None and cache.has_blob(digest):
        return cache.manifest(digest)
    return source.manifest(digest)


def _blob_opener(source: Repository, blob: Descriptor) -> Callable[[], Iterable[bytes]]:
    # The descriptor's size bounds the stream whichever way the manifest arrived (a cached
    # one included): an endless blob stops there.
    return lambda: capped(source.copy_blob(blob.digest, blob.size), blob)


def _mount_sources(
    source: Repository, target: Repository, digest: Digest, sightings: BlobSightings | None
) -> list[str]:
    """Repositories on ``target``'s registry that should hold ``digest``, best bet first."""
    if target.registry is None:
        return []
    found: list[str] = []
    if source.registry == target.registry and source.name != target.name:
        found.append(source.name)
    if sightings is not None:
        seen = sightings.repositories(target.registry, digest, exclude=target.name)
        found += [name for name in seen if name not in found]
    return found


def _mount(
    target: Repository,
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
        if sightings is not None and target.registry is not None:
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
    if _mount(target, blob, source, sightings):
        return "mounted"
    target.write_blob(blob.digest, blob.size, _blob_opener(source, blob), progress)
    return "sent"


def _put_manifest(
    source: Repository,
    target: Repository,
    data: bytes,
    tag: str | None,
    *,
    blobs: list[Descriptor],
    outcomes: list[str],
    progress: Progress,
    sightings: BlobSightings | None,
) -> None:
    """Put the manifest last; blobs the target then says it lacks (a registry that refused
    the manifest and was asked again) are copied once more, and the manifest put once more.
    ``outcomes`` is updated for the blobs copied again."""
    try:
        target.put_manifest(data, tag)
        return
    except BlobsMissing as e:
        lost = set(e.digests)
    for n, blob in enumerate(blobs):
        if blob.digest in lost:
            again = _copy_blob(source, target, blob, progress, sightings)
            if again != "present":
                outcomes[n] = again
    target.put_manifest(data, tag)


def copy_artifact(
    source: Repository,
    target: Repository,
    digest: Digest,
    *,
    tag: str | None = None,
    referrers: bool = True,
    dry_run: bool = False,
    workers: int = DEFAULT_WORKERS,
    manifest: VerifiedManifest | None = None,
    sightings: BlobSightings | None = None,
) -> CopyResult:
    """Copy the manifest ``digest`` and its blobs (and referrers) from ``source`` to ``target``.

    ``manifest`` may carry the manifest already read (and verified) by the caller.
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
        manifest=manifest,
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
    manifest: VerifiedManifest | None,
    sightings: BlobSightings | None,
    depth: int,
    walk: ReferrerWalk,
    subject: Digest | None = None,
) -> CopyResult | None:
    if subject is None:
        found = manifest if manifest is not None else read_manifest(source, digest, target)
    else:
        listed = walk.manifest(source, digest)
        if listed is None or not walk.accepts(listed.manifest, digest, subject):
            return None
        found = listed
    data, parsed = found.data, found.manifest
    blobs = list({b.digest: b for b in (parsed.config, *parsed.layers)}.values())
    if dry_run:
        missing = [b for b in blobs if not target.has_blob(b.digest, b.size)]
        return CopyResult(digest, parsed, len(blobs), len(missing), 0, sum(b.size for b in missing))
    total = sum(b.size for b in blobs)
    with transfer_progress(f"{digest.hex[:12]} → {target.describe()}", total) as progress:
        with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="blob") as pool:
            outcomes = list(
                pool.map(lambda b: _copy_blob(source, target, b, progress, sightings), blobs)
            )
        _put_manifest(
            source, target, data, tag,
            blobs=blobs, outcomes=outcomes, progress=progress, sightings=sightings,
        )  # fmt: skip
    if sightings is not None:
        # Both ends now hold every blob the manifest names (a registry refuses a manifest
        # whose blobs it lacks).
        for end in (source, target):
            if end.registry is not None:
                sightings.record(end.registry, end.name, (b.digest for b in blobs))
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
                manifest=None,
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
        manifest=parsed,
        blobs_total=len(blobs),
        blobs_sent=len(sent),
        blobs_mounted=outcomes.count("mounted"),
        bytes_sent=sum(b.size for b in sent),
        referrers=tuple(copied),
        sent=frozenset(b.digest for b in sent),
    )
