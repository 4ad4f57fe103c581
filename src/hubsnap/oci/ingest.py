"""Ingest into the local store: a blob is written to a temp file in ``ingest/`` while it is
hashed, checked against the digest and size it must have, fsynced and only then renamed to
``blobs/sha256/HEX``; so a blob path always holds exactly the bytes its name says.

Temp files carry their writer's pid (``blob-PID-….tmp``): one left by a writer killed hard is
swept once it is old and that process is gone (:func:`writer_alive`). Directories on the way
to a blob are created as real directories; a symlink planted there is refused.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from hubsnap.digest import Digest, FileDigests, StreamHasher
from hubsnap.errors import IntegrityError

__all__ = ["STALE_INGEST_SECONDS", "BlobWriter", "real_dir", "writer_alive"]

# An ingest temp file untouched this long, whose writer is gone, was left by a crash. A live
# writer may keep a finished temp file for long (a snapshot commits its files together, after
# the last download), hence the liveness check on the pid its name carries.
STALE_INGEST_SECONDS = 3600


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
        fd, name = tempfile.mkstemp(dir=ingest_dir, prefix=f"blob-{os.getpid()}-", suffix=".tmp")
        self._tmp = Path(name)
        self._file = os.fdopen(fd, "wb")
        self._hasher = StreamHasher(git_blob_size=git_blob_size)
        self.digests: FileDigests | None = None

    def write(self, chunk: bytes) -> None:
        self._file.write(chunk)
        self._hasher.update(chunk)

    def finish(self) -> FileDigests:
        """Close the temp file and compute its digests (idempotent)."""
        if self.digests is None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self.digests = self._hasher.finish()
        return self.digests

    def commit(
        self, expected: Digest | None = None, expected_size: int | None = None
    ) -> FileDigests:
        """Verify and move the blob into place; raise :class:`IntegrityError` on mismatch."""
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
        return digests

    def discard(self) -> None:
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
        if self._tmp.exists():
            self.discard()
