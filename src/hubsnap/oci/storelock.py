"""Who may delete from the local store: :class:`StoreLock`.

Blobs arrive in the store before the manifest that names them is indexed (a snapshot commits
each verified file as it finishes, then indexes the artifact at the end), so "referenced by
the index" alone cannot tell garbage from a blob a writer is about to use. Every process that
reads or writes a store therefore holds a *shared* lock on ``.gc.lock`` for as long as it has
the store open, and the verbs that delete blobs (``store gc``, ``store rm``) take it
*exclusively*: they wait for the store's users to finish (up to a deadline, then fail in one
line) and nobody starts using the store while they delete. ``flock`` locks belong to the
open file, so the kernel drops them when a process dies, however it dies.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path

from hubsnap.errors import IntegrityError, UsageError

__all__ = ["LOCK_NAME", "StoreLock"]

LOCK_NAME = ".gc.lock"
_POLL_SECONDS = 0.1


def _close(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


class StoreLock:
    """The shared-or-exclusive lock of one store, held by one :class:`LayoutStore` object."""

    def __init__(self, root: Path) -> None:
        self._path = root / LOCK_NAME
        self._fd: int | None = None
        self._mode = 0
        self._finalizer: Callable[[], object] | None = None

    def _open(self) -> int | None:
        if self._fd is not None:
            return self._fd
        try:
            # O_NOFOLLOW: a symlink planted at the lock's name must not create or touch its target.
            fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise IntegrityError(f"refusing to write through symlink {self._path}") from e
            return None  # a read-only store: nothing can delete from it either
        self._fd = fd
        self._finalizer = weakref.finalize(self, _close, fd)
        return fd

    def share(self) -> None:
        """Hold the lock shared (idempotent): no blob is deleted while this object lives.

        Waits while a deleting verb runs (it holds the lock only while it deletes).
        """
        if self._mode:
            return
        if not self._path.parent.is_dir():
            return  # no store yet: nothing to protect
        fd = self._open()
        if fd is None:
            return
        fcntl.flock(fd, fcntl.LOCK_SH)
        self._mode = fcntl.LOCK_SH

    def release(self) -> None:
        """Drop the lock and close its file (the store object is done)."""
        if self._finalizer is not None:
            self._finalizer()
        self._fd, self._mode, self._finalizer = None, 0, None

    @contextlib.contextmanager
    def exclusive(self, wait: float) -> Iterator[None]:
        """Hold the lock alone for the block; fail after ``wait`` seconds of other users."""
        fd = self._open()
        if fd is None:
            raise UsageError(f"cannot lock the store {self._path.parent}: it is read-only")
        previous = self._mode
        # Converting a shared flock may drop it before the exclusive one is refused: until
        # that succeeds, this object holds nothing.
        self._mode = 0
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise UsageError(
                        f"the store {self._path.parent} is in use by another hubsnap process",
                        hint="retry when it has finished (or wait longer with --wait)",
                    ) from None
                time.sleep(_POLL_SECONDS)
        self._mode = fcntl.LOCK_EX
        try:
            yield
        finally:
            if previous:
                fcntl.flock(fd, fcntl.LOCK_SH)
                self._mode = fcntl.LOCK_SH
            else:
                self.release()
