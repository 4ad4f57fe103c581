"""What every artifact home offers: the local store and a registry behave the same to callers.

Verbs (push, pull, sign, verify, inspect) talk to a :class:`Repository`; they never ask
whether it is an OCI image layout on disk or a remote registry, and never reach inside one:
a capability only one kind has (mounting a blob, a registry's name) is a method with a
defined answer on both sides. Every read is verified against the digest it was asked by
before it is returned; a manifest travels as a :class:`VerifiedManifest`, the bytes received
together with their digest, so nothing ever re-serialises a manifest to learn its address.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from hubsnap.digest import Digest, StreamHasher, sha256_bytes
from hubsnap.errors import IntegrityError, NotFoundError, RemoteError
from hubsnap.models import Descriptor, Manifest
from hubsnap.oci.directory import capped, os_error
from hubsnap.oci.layout import LayoutStore, damaged_blob
from hubsnap.progress import Progress

__all__ = [
    "BlobsMissing",
    "BodyFactory",
    "LayoutRepository",
    "ManifestCache",
    "Repository",
    "VerifiedManifest",
    "check_range",
    "read_store_slice",
]

BodyFactory = Callable[[], Iterable[bytes]]
#: Manifests one cache keeps: a command touches a handful, a hostile walk cannot grow it.
_MAX_CACHED = 4096


@dataclass(frozen=True)
class VerifiedManifest:
    """A manifest as received: ``data`` hashes to ``digest`` (checked before ``manifest``
    was parsed from it). The digest of a manifest is always the one of these bytes."""

    digest: Digest
    data: bytes = field(repr=False)
    manifest: Manifest

    @classmethod
    def parse(cls, data: bytes, digest: Digest) -> VerifiedManifest:
        """Check ``data`` against ``digest``, then parse it."""
        return cls(digest, data, Manifest.from_bytes(data, digest))

    @classmethod
    def of_bytes(cls, data: bytes) -> VerifiedManifest:
        """Manifest bytes addressed by their own hash (what a put stores them under)."""
        digest = sha256_bytes(data)
        return cls(digest, data, Manifest.from_bytes(data, digest))

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def descriptor(self) -> Descriptor:
        """The descriptor that points at these bytes (a referrer's ``subject``, an index entry)."""
        manifest = self.manifest
        return Descriptor(
            manifest.media_type,
            self.digest,
            len(self.data),
            dict(manifest.annotations),
            manifest.artifact_type or manifest.config.media_type,
        )


class ManifestCache:
    """Verified manifests by digest, shared by the repositories one command opens: a manifest
    is content-addressed, so one read of it serves every later use, wherever it came from."""

    def __init__(self, limit: int = _MAX_CACHED) -> None:
        self._limit = limit
        self._items: dict[Digest, VerifiedManifest] = {}
        self._lock = threading.Lock()

    def get(self, digest: Digest) -> VerifiedManifest | None:
        with self._lock:
            return self._items.get(digest)

    def put(self, found: VerifiedManifest) -> VerifiedManifest:
        with self._lock:
            if len(self._items) < self._limit:
                self._items.setdefault(found.digest, found)
        return found


class BlobsMissing(RemoteError):
    """A registry refused a manifest and, asked again, says it lacks ``digests`` (blobs the
    manifest names): whoever has them sends them again before the manifest is put again."""

    def __init__(self, message: str, digests: tuple[Digest, ...], *, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.digests = digests


class Repository(Protocol):
    """One artifact repository (a registry repository or an OCI layout)."""

    @property
    def registry(self) -> str | None:
        """The registry (``host[:port]``) this repository is on; ``None`` for a layout."""
        ...

    @property
    def name(self) -> str:
        """The repository's name on its registry (``models/minilm``); ``""`` for a layout."""
        ...

    def describe(self) -> str:
        """Where the repository is, as a user would write it (``localhost:5000/models/minilm``,
        ``oci:/abs/path``): recorded in provenance and matched by policy scopes."""
        ...

    def require(self) -> None:
        """Raise :class:`~hubsnap.errors.NotFoundError` when the repository surely does not
        exist: a path with no OCI image layout. A registry repository is judged by its reads."""
        ...

    def close(self) -> None:
        """Release what the repository holds (nothing of a shared connection pool)."""
        ...

    def sibling(self, name: str) -> Repository:
        """The repository ``name`` next to this one on the same registry; a layout holds
        every artifact itself, so its sibling is itself."""
        ...

    def resolve(self, reference: str | Digest) -> Descriptor:
        """Resolve a tag or digest to the manifest's descriptor (digest computed locally)."""
        ...

    def manifest(self, digest: Digest) -> VerifiedManifest:
        """The manifest ``digest`` names, its bytes checked against it before parsing."""
        ...

    def manifests(self, limit: int) -> list[Descriptor]:
        """Up to ``limit`` manifests the repository can list, oldest first as far as it keeps
        an order: a layout's indexed manifests; a registry repository's tagged ones."""
        ...

    def tags(self, limit: int) -> list[str]:
        """Up to ``limit`` tags; none when the repository does not exist."""
        ...

    def has_blob(self, digest: Digest, size: int | None = None) -> bool: ...

    def get_blob_bytes(self, digest: Digest, limit: int) -> bytes:
        """A small blob (config, bundle) read whole, verified, at most ``limit`` bytes."""
        ...

    def iter_blob(
        self, digest: Digest, progress: Progress | None = None, *, size: int | None = None
    ) -> Iterator[bytes]:
        """Stream a blob's bytes, cut off with :class:`IntegrityError` once they pass
        ``size``; callers hash what they keep."""
        ...

    def read_blob_range(
        self,
        digest: Digest,
        start: int,
        length: int,
        *,
        size: int,
        progress: Progress | None = None,
    ) -> bytes:
        """``length`` bytes of the blob from offset ``start``, never the whole of it: a
        registry is asked with ``Range`` (one that ignores it is read to the range's end,
        no further), a layout reads the slice of its file. ``size`` is the blob's size as
        its descriptor gives it, and the range must lie within it; a blob found to be
        another size, or that ends inside the range, is :class:`IntegrityError`.
        ``progress`` advances by every byte received, those read only to be dropped too.

        The bytes are NOT verified: a slice cannot be checked against the blob's digest.
        Use them only for what the caller validates itself (a safetensors header, which
        the strict reader checks against the blob's size) and never store or trust them
        as the blob's content.
        """
        ...

    def copy_blob(self, digest: Digest, size: int) -> Iterator[bytes]:
        """A blob's bytes on their way to another repository, cut off past ``size``: a layout
        hashes them as they stream and names its damaged file to delete on a mismatch; a
        registry's stream is checked by whoever keeps it."""
        ...

    def write_blob(
        self, digest: Digest, size: int, open_body: BodyFactory, progress: Progress | None = None
    ) -> None:
        """Store ``size`` bytes that must hash to ``digest``, streamed from ``open_body()``."""
        ...

    def mount_blob(self, digest: Digest, source_repository: str) -> bool:
        """Link a blob from another repository of the same registry without sending it;
        ``False`` when that is not possible (always, for a layout)."""
        ...

    def put_blob_bytes(self, data: bytes) -> Digest: ...

    def put_manifest(self, data: bytes, tag: str | None = None) -> Digest:
        """Store manifest bytes as given (blobs must be present); returns their digest.

        Raises :class:`BlobsMissing` when the repository finds blobs the manifest names
        missing (a registry that refused the manifest and was asked about each blob again).
        """
        ...

    def referrers(self, subject: Digest, artifact_type: str | None = None) -> list[Descriptor]:
        """Manifests whose ``subject`` is ``subject`` (referrers API or tag-schema fallback)."""
        ...

    def writing(self) -> AbstractContextManager[None]:
        """Guard a copy into this repository: a layout the copy created but left empty is
        removed again when it fails, and a local filesystem failure becomes one line (exit
        2, e.g. "No space left on device"); a registry needs no guard."""
        ...


def checked_store_blob(
    store: LayoutStore, digest: Digest, size: int | None = None
) -> Iterator[bytes]:
    """A layout's blob, hashed as it streams: a damaged one fails with the repair named
    before its last bytes are handed on (a registry would refuse it, saying less)."""
    hasher = StreamHasher()
    try:
        for chunk in store.iter_blob(digest):
            hasher.update(chunk)
            yield chunk
    except BaseException:
        hasher.close()
        raise
    digests = hasher.finish()
    if digests.sha256 != digest or (size is not None and digests.size != size):
        raise IntegrityError(
            f"blob {digest} in {store.root}: digest mismatch (got {digests.sha256})"
            + damaged_blob(store, digest)
        )


def check_range(start: int, length: int, size: int) -> None:
    """A range a caller asks of a ``size``-byte blob lies within it (a caller's bug if not)."""
    if start < 0 or length < 0 or start + length > size:
        raise ValueError(f"bytes {start}..{start + length} are not within {size}")


def read_store_slice(
    store: LayoutStore, digest: Digest, start: int, length: int, size: int
) -> bytes:
    """``length`` bytes from ``start`` of a layout's blob, which must be a regular file of
    ``size`` bytes (a planted symlink is refused, never followed). Unverified, as every
    slice is."""
    store.lock.share()
    path = store.blob_path(digest)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError as e:
        raise NotFoundError(f"blob {digest} not found in {store.root}") from e
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise IntegrityError(f"blob {digest} in {store.root} is a symlink") from e
        raise os_error(path, e, "read") from e
    try:
        found = os.fstat(fd)
        if not stat.S_ISREG(found.st_mode) or found.st_size != size:
            raise IntegrityError(
                f"blob {digest} in {store.root} is not the {size} bytes its descriptor gives"
                + damaged_blob(store, digest)
            )
        data = bytearray()
        while len(data) < length:
            chunk = os.pread(fd, length - len(data), start + len(data))
            if not chunk:
                raise IntegrityError(f"blob {digest} in {store.root} ended while read")
            data += chunk
        return bytes(data)
    except OSError as e:
        raise os_error(path, e, "read") from e
    finally:
        os.close(fd)


class LayoutRepository:
    """:class:`Repository` over a local OCI image layout."""

    def __init__(self, store: LayoutStore, cache: ManifestCache | None = None) -> None:
        self.store = store
        self._cache = cache if cache is not None else ManifestCache()

    @property
    def registry(self) -> str | None:
        return None

    @property
    def name(self) -> str:
        return ""

    def describe(self) -> str:
        return f"oci:{self.store.root}"

    def require(self) -> None:
        self.store.require()

    def close(self) -> None:
        pass

    def sibling(self, name: str) -> Repository:
        return self

    def resolve(self, reference: str | Digest) -> Descriptor:
        if isinstance(reference, Digest):
            return self.store.resolve(digest=reference)
        return self.store.resolve(tag=reference)

    def manifest(self, digest: Digest) -> VerifiedManifest:
        cached = self._cache.get(digest)
        if cached is not None:
            return cached
        data, manifest = self.store.read_manifest(digest)
        return self._cache.put(VerifiedManifest(digest, data, manifest))

    def manifests(self, limit: int) -> list[Descriptor]:
        return [entry.descriptor for entry in self.store.entries()[:limit]]

    def tags(self, limit: int) -> list[str]:
        return list(self.store.tags())[:limit]

    def has_blob(self, digest: Digest, size: int | None = None) -> bool:
        return self.store.has_blob(digest, size)

    def get_blob_bytes(self, digest: Digest, limit: int) -> bytes:
        return self.store.read_blob(digest, limit=limit)

    def iter_blob(
        self, digest: Digest, progress: Progress | None = None, *, size: int | None = None
    ) -> Iterator[bytes]:
        chunks = self.store.iter_blob(digest)
        if size is not None:
            chunks = capped(chunks, Descriptor("", digest, size))
        for chunk in chunks:
            if progress is not None:
                progress.advance(len(chunk))
            yield chunk

    def read_blob_range(
        self,
        digest: Digest,
        start: int,
        length: int,
        *,
        size: int,
        progress: Progress | None = None,
    ) -> bytes:
        check_range(start, length, size)
        data = read_store_slice(self.store, digest, start, length, size)
        if progress is not None:
            progress.advance(len(data))
        return data

    def copy_blob(self, digest: Digest, size: int) -> Iterator[bytes]:
        return checked_store_blob(self.store, digest, size)

    def write_blob(
        self, digest: Digest, size: int, open_body: BodyFactory, progress: Progress | None = None
    ) -> None:
        with self.store.writer() as writer:
            for chunk in capped(open_body(), Descriptor("", digest, size)):
                writer.write(chunk)
                if progress is not None:
                    progress.advance(len(chunk))
            writer.commit(digest, size)  # checks digest and size, then renames

    def mount_blob(self, digest: Digest, source_repository: str) -> bool:
        return False

    def put_blob_bytes(self, data: bytes) -> Digest:
        return self.store.put_bytes(data)

    def put_manifest(self, data: bytes, tag: str | None = None) -> Digest:
        return self.store.put_manifest(data, tag=tag).digest

    def referrers(self, subject: Digest, artifact_type: str | None = None) -> list[Descriptor]:
        return self.store.referrers(subject, artifact_type)

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        store = self.store
        existed = store.root.exists()
        try:
            yield
        except BaseException as e:
            if not existed:
                store.discard_if_unused()
            if isinstance(e, OSError):
                raise os_error(Path(e.filename or store.root), e) from e
            raise
