"""Ingest into the local store: a blob is written to a temp file in ``ingest/`` while it is
hashed, checked against the digest and size it must have, fsynced and only then renamed to
``blobs/sha256/HEX``; so a blob path always holds exactly the bytes its name says.

Temp files carry their writer's pid (``blob-PID-….tmp``): one left by a writer killed hard is
swept once it is old and that process is gone (:func:`writer_alive`). Directories on the way
to a blob are created as real directories; a symlink planted there is refused.

A download that may be resumed (a Hub file, whose content the Hub names before it is sent)
is written to a *partial* named after that content instead, ``partial-sha256-HEX`` or
``partial-gitblob-SHA1`` (:func:`partial_name`), under an exclusive ``flock`` held while it
is written. An interrupted run leaves it there (a process killed hard too: the kernel drops
the lock); the next run that wants the same content takes it over, re-hashes the bytes it
holds and asks only for the rest (:meth:`BlobWriter.resume`). The whole file is verified at
the end as any other. A partial nobody holds is swept once it is a day old, and by ``store
gc``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import stat
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from hubsnap.digest import Digest, FileDigests, StreamHasher
from hubsnap.errors import IntegrityError

__all__ = [
    "STALE_INGEST_SECONDS",
    "STALE_PARTIAL_SECONDS",
    "BlobWriter",
    "partial_name",
    "real_dir",
    "sweep",
    "writer_alive",
]

# An ingest temp file untouched this long, whose writer is gone, was left by a crash. A live
# writer may keep a finished temp file for long (a snapshot commits its files together, after
# the last download), hence the liveness check on the pid its name carries.
STALE_INGEST_SECONDS = 3600
#: A partial download nobody has resumed for this long is given up (``store gc``: at once).
STALE_PARTIAL_SECONDS = 24 * 3600
_PARTIAL = re.compile(r"^partial-(sha256-[0-9a-f]{64}|gitblob-[0-9a-f]{40})$")
_READ_CHUNK = 1024 * 1024


def partial_name(*, sha256: str | None = None, git_blob_id: str | None = None) -> str:
    """The ingest file name of a resumable download of this content."""
    name = f"partial-sha256-{sha256}" if sha256 is not None else f"partial-gitblob-{git_blob_id}"
    if _PARTIAL.match(name) is None:
        raise ValueError(f"not a content name: {name!r}")
    return name


def real_dir(path: Path) -> Path:
    """Create ``path`` (one level) as a real directory; a symlink there is refused."""
    if path.is_symlink():
        raise IntegrityError(f"refusing to write through symlink {path}")
    path.mkdir(exist_ok=True)
    if path.is_symlink() or not path.is_dir():
        raise IntegrityError(f"refusing to write through {path}: it is not a directory")
    return path


def writer_alive(name: str) -> bool:
    """Whether the process named in an ingest temp file (``blob-PID-….tmp``) still runs."""
    pid = name.split("-")[1] if name.count("-") >= 2 else ""
    if not pid.isdigit():
        return False  # no pid in the name: only the age speaks
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it exists, under another user
    return True


def _lock_unheld(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _remove_if_stale(path: Path, cutoff: float, partial_cutoff: float) -> bool:
    """Remove an ingest file that was left behind; whether it was."""
    name = path.name
    if name.startswith("blob-") and name.endswith(".tmp"):
        if path.lstat().st_mtime >= cutoff or writer_alive(name):
            return False
        path.unlink()
        return True
    if _PARTIAL.match(name) is None or path.lstat().st_mtime >= partial_cutoff:
        return False
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        if not _lock_unheld(fd):
            return False  # a writer is resuming it right now
        path.unlink()  # under the lock: nobody takes it over meanwhile
        return True
    finally:
        os.close(fd)


def sweep(ingest_dir: Path, *, older_than: float, partials_older_than: float) -> list[Path]:
    """Remove ingest temp files of dead writers and partials nobody resumed; return them."""
    now = time.time()
    removed = []
    for path in sorted(ingest_dir.iterdir()):
        try:
            if _remove_if_stale(path, now - older_than, now - partials_older_than):
                removed.append(path)
        except OSError:
            continue  # gone meanwhile, or not ours to remove: sweeping is best effort
    return removed


def _open_partial(path: Path) -> int | None:
    """``path`` opened and locked for writing, or ``None`` when another writer holds it."""
    for _ in range(3):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise IntegrityError(f"refusing to write through symlink {path}") from e
            raise
        if not _lock_unheld(fd):
            os.close(fd)
            return None
        info = os.fstat(fd)
        try:
            current = os.lstat(path)
        except FileNotFoundError:
            current = None
        if current is not None and (current.st_ino, current.st_dev) == (info.st_ino, info.st_dev):
            if stat.S_ISREG(info.st_mode):
                return fd
            os.close(fd)
            raise IntegrityError(f"refusing to write to {path}: it is not a regular file")
        os.close(fd)  # taken over and renamed, or removed, while we waited: look again
    return None


class BlobWriter:
    """A blob being ingested: write chunks, then :meth:`commit` with what it must hash to.

    Used as a context manager; leaving it without a commit discards the temp file.
    """

    def __init__(
        self,
        ingest_dir: Path,
        blob_path: Callable[[Digest], Path],
        *,
        git_blob_size: int | None = None,
    ) -> None:
        self._blob_path = blob_path
        self._ingest_dir = ingest_dir
        self._git_blob_size = git_blob_size
        fd, name = tempfile.mkstemp(dir=ingest_dir, prefix=f"blob-{os.getpid()}-", suffix=".tmp")
        self._tmp = Path(name)
        self._file: BinaryIO = os.fdopen(fd, "wb")
        self._hasher = StreamHasher(git_blob_size=git_blob_size)
        self._partial = False
        self._kept = False
        self._committed: FileDigests | None = None
        #: Bytes a resumed partial already held when this writer took it over.
        self.resumed_from = 0
        self.digests: FileDigests | None = None

    @classmethod
    def resume(
        cls,
        ingest_dir: Path,
        blob_path: Callable[[Digest], Path],
        name: str,
        *,
        size: int,
        git_blob_size: int | None = None,
    ) -> BlobWriter:
        """A writer of the partial download ``name``, holding what an earlier run received.

        Its bytes (at most ``size``; a longer partial starts over) are hashed again now;
        write the rest from :attr:`resumed_from`. While another process holds that partial,
        a plain writer that starts from nothing.
        """
        path = ingest_dir / name
        fd = _open_partial(path)
        if fd is None:
            return cls(ingest_dir, blob_path, git_blob_size=git_blob_size)
        writer = cls.__new__(cls)
        writer._blob_path, writer._ingest_dir = blob_path, ingest_dir
        writer._git_blob_size = git_blob_size
        writer._tmp, writer._partial, writer._kept = path, True, False
        writer._committed = None
        writer._file = os.fdopen(fd, "r+b")
        writer._hasher = StreamHasher(git_blob_size=git_blob_size)
        writer.digests = None
        try:
            if os.fstat(fd).st_size > size:
                writer._file.truncate(0)
            while chunk := writer._file.read(_READ_CHUNK):
                writer._hasher.update(chunk)
        except BaseException:
            writer.discard()
            raise
        writer.resumed_from = writer._hasher.size
        return writer

    def restart(self) -> None:
        """Drop what was written: the source sends the whole body again."""
        self._file.seek(0)
        self._file.truncate(0)
        self._hasher.close()
        self._hasher = StreamHasher(git_blob_size=self._git_blob_size)
        self.resumed_from = 0

    @property
    def written(self) -> int:
        return self._hasher.size

    def keep(self) -> bool:
        """Leave an unfinished partial for a later run to resume (``True``); any other
        writer is discarded (``False``)."""
        if not self._partial or self.digests is not None:
            self.discard()
            return False
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()  # and with it the lock
        self._hasher.close()
        self._kept = True
        return True

    def write(self, chunk: bytes) -> None:
        self._file.write(chunk)
        self._hasher.update(chunk)

    def finish(self) -> FileDigests:
        """Close the temp file and compute its digests (idempotent)."""
        if self.digests is None:
            self._file.flush()
            os.fsync(self._file.fileno())
            if self._partial:
                # Still under the partial's lock: move it to a name of this writer's own,
                # so no other run takes over a file this one is about to commit.
                fd, name = tempfile.mkstemp(
                    dir=self._ingest_dir, prefix=f"blob-{os.getpid()}-", suffix=".tmp"
                )
                os.close(fd)
                self._tmp.replace(name)
                self._tmp, self._partial = Path(name), False
            self._file.close()
            self.digests = self._hasher.finish()
        return self.digests

    def commit(
        self, expected: Digest | None = None, expected_size: int | None = None
    ) -> FileDigests:
        """Verify and move the blob into place; raise :class:`IntegrityError` on mismatch.
        Committing again returns what the first commit did."""
        if self._committed is not None:
            return self._committed
        digests = self.finish()
        if expected is not None and digests.sha256 != expected:
            self.discard()
            raise IntegrityError(f"blob digest mismatch: expected {expected}, got {digests.sha256}")
        if expected_size is not None and digests.size != expected_size:
            self.discard()
            raise IntegrityError(
                f"blob size mismatch for {digests.sha256}: "
                f"expected {expected_size}, got {digests.size}"
            )
        final = self._blob_path(digests.sha256)
        real_dir(final.parent.parent)
        real_dir(final.parent)
        self._tmp.chmod(0o444)
        self._tmp.replace(final)
        self._committed = digests
        return digests

    def discard(self) -> None:
        if self._kept or self._committed is not None:
            return
        if self._partial:  # removed while still locked: no other run takes it over meanwhile
            with contextlib.suppress(FileNotFoundError):
                self._tmp.unlink()
        if not self._file.closed:
            self._file.close()
            self._hasher.close()
        with contextlib.suppress(FileNotFoundError):
            self._tmp.unlink()

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._kept and self._tmp.exists():
            self.discard()
