"""The local store: an OCI image layout on disk, content-addressed and crash-safe.

Blobs live at ``blobs/sha256/HEX``; every manifest the store holds is listed in
``index.json`` (tagged ones carry ``org.opencontainers.image.ref.name``), which is what skopeo,
oras and other OCI tools read. New blobs are written to a temp file inside the store while
being hashed, checked against the expected digest and size, fsynced and renamed into place:
a blob path therefore always holds exactly the bytes its name says. Temp files left by a
writer killed hard are removed the first time the store is opened for writing, once they are
an hour old and the process that named them is gone; partial downloads kept for resuming,
once a day old. ``index.json`` is rewritten
atomically under an exclusive lock so concurrent writers do not lose each other's entries.
Referrers of a manifest are the indexed manifests whose ``subject`` names it.

Every layout is checked against the image-layout spec before it is read
(:mod:`hubsnap.oci.layoutspec`). A layout other than the local store (``oci:PATH`` written
by skopeo or oras, say) is also put through oras-py's validator: that part of oras-py only
inspects files and is sound. Reading and writing blobs stays here, because oras-py neither
verifies what it reads nor writes through temp files.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from hubsnap.canonical import loads_object
from hubsnap.digest import CHUNK_SIZE, Digest, sha256_bytes
from hubsnap.errors import IntegrityError, NotFoundError, UsageError
from hubsnap.fsutil import atomic_write_bytes, check_store_path
from hubsnap.localfile import read_regular_file
from hubsnap.models import (
    MAX_MANIFEST_BYTES,
    MEDIA_TYPE_IMAGE_INDEX,
    Descriptor,
    Index,
    Manifest,
)
from hubsnap.oci.ingest import (
    STALE_INGEST_SECONDS,
    STALE_PARTIAL_SECONDS,
    BlobWriter,
    real_dir,
    sweep,
)
from hubsnap.oci.layoutspec import check_layout_spec
from hubsnap.oci.storelock import LOCK_NAME, StoreLock

__all__ = [
    "ANNOTATION_REF_NAME",
    "BlobWriter",
    "IndexEntry",
    "LayoutStore",
    "check_store_path",
    "damaged_blob",
]

ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
_LAYOUT_FILE = b'{"imageLayoutVersion":"1.0.0"}'
#: ``index.json`` lists every manifest of the store (~300 bytes each): room for ~100,000.
_MAX_INDEX_BYTES = 32 * 1024 * 1024


def damaged_blob(store: LayoutStore, digest: Digest) -> str:
    """The repair advice appended to a mismatch found in the store's copy of ``digest``."""
    return (
        f"; the local store's copy is damaged: delete {store.blob_path(digest)} "
        "and pull again to repair it"
    )


_LISTED_TAGS = 8


def _holdings(entries: list[IndexEntry]) -> str:
    """What a layout holds, for a "not found" message: its tags, or that it is empty."""
    tags = sorted({e.tag for e in entries if e.tag})
    if not entries:
        return "the layout is empty"
    if not tags:
        return f"it holds {len(entries)} untagged manifest(s); name one by digest (@sha256:…)"
    shown = ", ".join(tags[:_LISTED_TAGS])
    more = f" and {len(tags) - _LISTED_TAGS} more" if len(tags) > _LISTED_TAGS else ""
    return f"its tags: {shown}{more} (hubsnap store ls lists the local store)"


@dataclass(frozen=True)
class IndexEntry:
    descriptor: Descriptor

    @property
    def tag(self) -> str | None:
        return self.descriptor.annotations.get(ANNOTATION_REF_NAME)


def _oras_validate(root: Path) -> None:
    # Imported here: oras-py's package loads requests and jsonschema (60 ms), which the
    # commands that only read the local store (a local verify) should not pay.
    from oras.layout.layout import Layout as OrasLayout  # noqa: PLC0415

    OrasLayout(str(root), validate=True)


class LayoutStore:
    """An OCI image layout directory used as a content-addressed store."""

    def __init__(self, root: Path, *, foreign: bool = False) -> None:
        self.root = root
        #: Not the local store: validated by oras-py as well (see the module docstring).
        self.foreign = foreign
        self._swept = False
        self._validated = False
        #: Held shared from the first blob this object touches: see :mod:`hubsnap.oci.storelock`.
        self.lock = StoreLock(root)

    # -- layout -----------------------------------------------------------------------------

    @property
    def ingest_dir(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        return real_dir(self.root / "ingest")

    def exists(self) -> bool:
        return (self.root / "oci-layout").is_file()

    def ensure(self) -> LayoutStore:
        """Create the layout if it does not exist yet; return ``self``."""
        if self.root.exists() and not self.root.is_dir():
            raise UsageError(f"{self.root} exists and is not a directory")
        check_store_path(self.root)
        self.root.mkdir(parents=True, exist_ok=True)
        real_dir(real_dir(self.root / "blobs") / "sha256")
        real_dir(self.root / "ingest")
        if not (self.root / "oci-layout").exists():
            atomic_write_bytes(self.root / "oci-layout", _LAYOUT_FILE)
        if not (self.root / "index.json").exists():
            self._write_index([])
        return self

    def discard_if_unused(self) -> None:
        """Remove a store that holds nothing (as a failed first pull leaves it), else keep it."""
        try:
            if self.entries() or any((self.root / "blobs" / "sha256").iterdir()):
                return
            if any(self.ingest_dir.iterdir()):
                return
        except (OSError, IntegrityError):
            return
        for name in ("oci-layout", "index.json", ".index.lock", LOCK_NAME):
            with contextlib.suppress(OSError):
                (self.root / name).unlink()
        for directory in ("blobs/sha256", "blobs", "ingest", ""):
            with contextlib.suppress(OSError):
                (self.root / directory).rmdir()

    def require(self) -> LayoutStore:
        """Return ``self`` if an OCI image layout that follows the spec is at ``root``."""
        if not self.exists():
            raise NotFoundError(f"no OCI image layout at {self.root}")
        if not self._validated:
            try:
                self.entries()
            except IntegrityError as e:
                raise IntegrityError(f"{self.root} is not a valid OCI image layout: {e}") from e
            try:
                check_layout_spec(self.root)
                if self.foreign:
                    _oras_validate(self.root)
            except (OSError, ValueError) as e:
                raise IntegrityError(f"{self.root} is not a valid OCI image layout: {e}") from e
            self._validated = True
        return self

    # -- blobs ------------------------------------------------------------------------------

    def blob_path(self, digest: Digest) -> Path:
        return self.root / "blobs" / digest.algorithm / digest.hex

    def has_blob(self, digest: Digest, size: int | None = None) -> bool:
        self.lock.share()
        path = self.blob_path(digest)
        try:
            stat = path.lstat()
        except FileNotFoundError:
            return False
        return not path.is_symlink() and (size is None or stat.st_size == size)

    def writer(
        self, *, git_blob_size: int | None = None, partial: str | None = None, size: int = 0
    ) -> BlobWriter:
        """A new blob's writer; with ``partial`` (a :func:`~hubsnap.oci.ingest.partial_name`
        of ``size`` bytes), one that resumes that download (:meth:`BlobWriter.resume`)."""
        self.ensure()
        self.lock.share()
        if not self._swept:
            self._swept = True
            self.sweep_ingest()
        if partial is not None:
            return BlobWriter.resume(
                self.ingest_dir, self.blob_path, partial, size=size, git_blob_size=git_blob_size
            )
        return BlobWriter(self.ingest_dir, self.blob_path, git_blob_size=git_blob_size)

    def has_partial(self, name: str) -> bool:
        """Whether an interrupted download left the partial ``name`` to resume."""
        return (self.root / "ingest" / name).is_file()

    def sweep_ingest(
        self,
        *,
        older_than: float = STALE_INGEST_SECONDS,
        partials_older_than: float = STALE_PARTIAL_SECONDS,
    ) -> list[Path]:
        """Remove ingest temp files left by dead writers and partial downloads nobody resumed
        (see :mod:`hubsnap.oci.ingest`); return what was removed."""
        ingest = self.ingest_dir
        return sweep(ingest, older_than=older_than, partials_older_than=partials_older_than)

    def put_bytes(self, data: bytes) -> Digest:
        digest = sha256_bytes(data)
        if not self.has_blob(digest, len(data)):
            with self.writer() as writer:
                writer.write(data)
                writer.commit(digest, len(data))
        return digest

    def read_blob(self, digest: Digest, *, limit: int = MAX_MANIFEST_BYTES) -> bytes:
        """Read a small blob whole, verifying its digest (manifests, configs, bundles)."""
        self.lock.share()
        path = self.blob_path(digest)
        if path.is_symlink():
            raise IntegrityError(f"blob {digest} in {self.root} is a symlink")
        try:
            with path.open("rb") as stream:
                data = stream.read(limit + 1)
        except FileNotFoundError as e:
            raise NotFoundError(f"blob {digest} not found in {self.root}") from e
        if len(data) > limit:
            raise IntegrityError(f"blob {digest} is larger than {limit} bytes")
        if sha256_bytes(data) != digest:
            raise IntegrityError(f"blob {digest} in {self.root} is corrupt")
        return data

    def iter_blob(self, digest: Digest) -> Iterator[bytes]:
        """Stream a blob's bytes (the caller verifies if it needs to)."""
        self.lock.share()
        path = self.blob_path(digest)
        if path.is_symlink():
            raise IntegrityError(f"blob {digest} in {self.root} is a symlink")
        try:
            stream = path.open("rb")
        except FileNotFoundError as e:
            raise NotFoundError(f"blob {digest} not found in {self.root}") from e
        with stream:
            while chunk := stream.read(CHUNK_SIZE):
                yield chunk

    # -- index ------------------------------------------------------------------------------

    def locked(self) -> contextlib.AbstractContextManager[None]:
        """Hold the index lock (writers of ``index.json`` wait) for a block."""
        return self._locked()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.ensure()
        # O_NOFOLLOW: a symlink planted at the lock's name must not create or touch its target.
        try:
            fd = os.open(self.root / ".index.lock", os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as e:
            if (self.root / ".index.lock").is_symlink():
                raise IntegrityError(
                    f"refusing to write through symlink {self.root / '.index.lock'}"
                ) from e
            raise
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def entries(self) -> list[IndexEntry]:
        if not self.exists():
            return []
        path = self.root / "index.json"
        data = read_regular_file(
            path, limit=_MAX_INDEX_BYTES, what="layout index", error=IntegrityError
        )
        try:
            index = Index.from_json(loads_object(data, str(path), max_bytes=_MAX_INDEX_BYTES))
        except (ValueError, UsageError) as e:
            raise IntegrityError(f"malformed {path}: {e}") from e
        return [IndexEntry(m) for m in index.manifests]

    def update_index(self, change: Callable[[list[IndexEntry]], list[IndexEntry]]) -> None:
        """Rewrite ``index.json`` as ``change`` makes it from its current entries, under the
        index lock (so that concurrent writers lose nothing)."""
        with self._locked():
            self._write_index(change(self.entries()))

    def _write_index(self, entries: list[IndexEntry]) -> None:
        index = {
            "schemaVersion": 2,
            "mediaType": MEDIA_TYPE_IMAGE_INDEX,
            "manifests": [e.descriptor.to_json() for e in entries],
        }
        atomic_write_bytes(self.root / "index.json", json.dumps(index, indent=2).encode() + b"\n")

    def put_manifest(self, data: bytes, *, tag: str | None = None) -> Descriptor:
        """Store manifest bytes as given and index them (replacing the tag's old target)."""
        self.ensure()
        self.lock.share()
        manifest = Manifest.from_bytes(data)
        for layer in (manifest.config, *manifest.layers):
            if not self.has_blob(layer.digest, layer.size):
                raise IntegrityError(
                    f"manifest refers to blob {layer.digest}, missing from {self.root}"
                )
        digest = self.put_bytes(data)
        annotations = {ANNOTATION_REF_NAME: tag} if tag else {}
        descriptor = Descriptor(
            media_type=manifest.media_type,
            digest=digest,
            size=len(data),
            annotations=annotations,
            artifact_type=manifest.artifact_type or manifest.config.media_type,
        )
        with self._locked():
            entries = []
            for entry in self.entries():
                if tag and entry.tag == tag:
                    continue
                if entry.descriptor.digest == digest and entry.tag is None:
                    continue
                entries.append(entry)
            entries.append(IndexEntry(descriptor))
            self._write_index(entries)
        return descriptor

    def resolve(self, *, tag: str | None = None, digest: Digest | None = None) -> Descriptor:
        """Find a manifest by digest or by tag (``latest`` when neither is given)."""
        entries = self.require().entries()
        if digest is not None:
            for entry in entries:
                if entry.descriptor.digest == digest:
                    return entry.descriptor
            if self.has_blob(digest):
                data = self.read_blob(digest)
                manifest = Manifest.from_bytes(data, digest)
                return Descriptor(
                    manifest.media_type, digest, len(data), {}, manifest.artifact_type
                )
            raise NotFoundError(f"manifest {digest} not found in {self.root}")
        wanted = tag or "latest"
        for entry in reversed(entries):
            if entry.tag == wanted:
                return entry.descriptor
        raise NotFoundError(f"tag {wanted!r} not found in {self.root}", hint=_holdings(entries))

    def read_manifest(self, digest: Digest) -> tuple[bytes, Manifest]:
        data = self.read_blob(digest)
        return data, Manifest.from_bytes(data, digest)

    def tags(self) -> dict[str, Digest]:
        return {e.tag: e.descriptor.digest for e in self.entries() if e.tag}

    def referrers(self, subject: Digest, artifact_type: str | None = None) -> list[Descriptor]:
        """Indexed manifests whose ``subject`` is ``subject``, oldest first."""
        found = []
        for entry in self.entries():
            descriptor = entry.descriptor
            if descriptor.digest == subject:
                continue
            if artifact_type is not None and descriptor.artifact_type != artifact_type:
                continue
            _, manifest = self.read_manifest(descriptor.digest)
            if manifest.subject is not None and manifest.subject.digest == subject:
                found.append(
                    Descriptor(
                        descriptor.media_type,
                        descriptor.digest,
                        descriptor.size,
                        dict(manifest.annotations),
                        manifest.artifact_type or manifest.config.media_type,
                    )
                )
        return found
