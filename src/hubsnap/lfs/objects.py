"""The repository's local LFS object store (``.git/lfs/objects/OID[0:2]/OID[2:4]/OID``).

Objects are hard links to the verified blobs of hubsnap's store, so no byte is copied; where
the two are on different filesystems (or links are not allowed) the blob is copied to a temp
file beside its final name and renamed into place. An object already there with the right size
is kept; anything else at that path (a symlink, a short file) is replaced.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path

__all__ = ["object_path", "place_object"]

_LINK_FALLBACK = frozenset({errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP})


def object_path(objects: Path, oid: str) -> Path:
    return objects / oid[0:2] / oid[2:4] / oid


def _present(path: Path, size: int) -> bool:
    try:
        stat = path.lstat()
    except FileNotFoundError:
        return False
    return not path.is_symlink() and stat.st_size == size


def place_object(objects: Path, oid: str, size: int, source: Path) -> bool:
    """Put the object ``oid`` (the bytes at ``source``) in place; ``False`` if it was there."""
    final = object_path(objects, oid)
    if _present(final, size):
        return False
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=final.parent, prefix=f".{oid[:8]}-", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        tmp.unlink()
        try:
            os.link(source, tmp, follow_symlinks=False)
        except OSError as e:
            if e.errno not in _LINK_FALLBACK:
                raise
            with source.open("rb") as src, tmp.open("xb") as dst:
                shutil.copyfileobj(src, dst)
                dst.flush()
                os.fsync(dst.fileno())
        tmp.replace(final)
    finally:
        tmp.unlink(missing_ok=True)
    return True
