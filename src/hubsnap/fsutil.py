"""Safe file placement: relative-path checks, symlink refusal, atomic writes.

Everything hubsnap writes at a name a user will read (pulled files, ``snapshot.yaml``, store
blobs, keys) goes through here: bytes land in a temp file in the destination directory, are
flushed and fsynced, then renamed over the final name, so a crash or a failed check leaves the
old state or nothing, never half a file. Paths that come from remote data are checked before
any write; a symlink planted at or above a destination is refused, never followed.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
import unicodedata
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from hubsnap.errors import IntegrityError, UsageError

__all__ = [
    "atomic_write_bytes",
    "atomic_writer",
    "check_checkout_path",
    "check_relative_path",
    "check_store_path",
    "ensure_dir_no_symlinks",
    "is_git_component",
    "safe_destination",
]

_DRIVE = re.compile(r"^[A-Za-z]:")
# What git itself refuses to check out (``verify_path``): ``.git`` in any case, with trailing
# dots or spaces (Windows drops them), and its NTFS 8.3 short name ``git~1``.
_GIT_COMPONENT = re.compile(r"^(?:\.git[. ]*|git~1)$", re.IGNORECASE)


def is_git_component(part: str) -> bool:
    """Whether a path component would name a git directory on some filesystem."""
    return _GIT_COMPONENT.match(part) is not None


def check_relative_path(name: str, what: str = "path") -> PurePosixPath:
    """Return ``name`` as a safe relative POSIX path, or raise :class:`IntegrityError`.

    Refused: empty names, absolute paths, ``..`` or ``.`` components, backslashes, drive
    letters, NUL and control characters.
    """
    problem = None
    if not name or any(unicodedata.category(c) == "Cc" for c in name):
        problem = "is empty or has control characters"
    elif "\\" in name:
        problem = "contains a backslash"
    elif name.startswith("/") or _DRIVE.match(name):
        problem = "is absolute"
    else:
        parts = name.split("/")
        if any(part in ("", ".", "..") for part in parts):
            problem = "has an empty, '.' or '..' component"
    if problem:
        raise IntegrityError(f"refusing {what} {name!r}: it {problem}")
    return PurePosixPath(name)


def check_checkout_path(name: str, what: str = "path") -> PurePosixPath:
    """:func:`check_relative_path` for a file about to be written into a directory that may
    be a git checkout: ``.git`` components are refused too, in every spelling git itself
    refuses, since a file written there (``.git/config`` with ``core.fsmonitor``, a hook)
    runs commands. An artifact may carry such paths (OMS signing skips them); writing them
    out is what is refused.
    """
    relative = check_relative_path(name, what)
    if any(is_git_component(part) for part in relative.parts):
        raise IntegrityError(f"refusing {what} {name!r}: it has a '.git' component")
    return relative


def ensure_dir_no_symlinks(root: Path, relative: PurePosixPath) -> Path:
    """Create ``root/relative`` as real directories, refusing any symlink on the way."""
    current = root
    for part in relative.parts:
        current = current / part
        if current.is_symlink():
            raise IntegrityError(f"refusing to write through symlink {current}")
        if current.exists() and not current.is_dir():
            raise IntegrityError(f"refusing to replace non-directory {current}")
        current.mkdir(exist_ok=True)
    return current


def safe_destination(root: Path, name: str, what: str = "path") -> Path:
    """The final path for remote file ``name`` under ``root``, with its parents created.

    Neither the parents nor an existing file at the destination may be symlinks.
    """
    relative = check_relative_path(name, what)
    if root.is_symlink():
        raise IntegrityError(f"refusing to write through symlink {root}")
    root.mkdir(parents=True, exist_ok=True)
    parent = ensure_dir_no_symlinks(root, relative.parent) if relative.parent.parts else root
    target = parent / relative.name
    if target.is_symlink():
        raise IntegrityError(f"refusing to replace symlink {target}")
    if target.exists() and target.is_dir():
        raise IntegrityError(f"refusing to replace directory {target}")
    return target


@contextlib.contextmanager
def atomic_writer(target: Path, mode: int = 0o644) -> Iterator[BinaryIO]:
    """Yield a temp file beside ``target``; on clean exit fsync it and rename it over.

    On any exception the temp file is removed and ``target`` is untouched.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        tmp.replace(target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(target.parent)


def atomic_write_bytes(target: Path, data: bytes, mode: int = 0o644) -> None:
    with atomic_writer(target, mode) as stream:
        stream.write(data)


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; some filesystems refuse O_RDONLY fsync on dirs.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def check_store_path(root: Path) -> Path:
    """Return ``root`` if a store can live there: a directory, or a path whose nearest
    existing ancestor is one. Checked before a command does anything, so that a store path
    naming a file fails at once, in one line (exit 2), having created nothing.

    Each component is judged from one ``stat``: the store may be created by another writer
    (a parallel upload) between two separate checks, and a directory that appears meanwhile
    is fine.
    """
    probe = root
    while True:
        try:
            mode: int | None = probe.stat().st_mode
        except (FileNotFoundError, NotADirectoryError):
            mode = None
        except OSError as e:
            raise UsageError(f"cannot use store {root}: {e.strerror}") from e
        if mode is None and probe.is_symlink():
            mode = 0  # a dangling symlink: nothing a store can be created through
        if mode is not None:
            if stat.S_ISDIR(mode):
                return root
            where = "it" if probe == root else f"{probe}"
            raise UsageError(f"cannot use store {root}: {where} is not a directory")
        if probe == probe.parent:
            return root
        probe = probe.parent
