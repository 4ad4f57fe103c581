"""Reading the local files a user names: regular files only, never more than a cap.

A policy, a key, a ``snapshot.yaml``, a docker config or a layout's ``index.json`` may be
given as a FIFO (an ``open`` for reading would wait for a writer forever), ``/dev/zero``
(memory grows by GB/s) or a directory. :func:`read_regular_file` opens without blocking,
checks the open descriptor with ``fstat``, refuses anything but a regular file before a byte
is read, and reads at most the cap plus one byte.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from hubsnap.errors import HubsnapError, UsageError
from hubsnap.values import shown

__all__ = ["read_regular_file"]


def _size(limit: int) -> str:
    if limit % (1024 * 1024) == 0:
        return f"{limit // (1024 * 1024)} MiB"
    if limit % 1024 == 0:
        return f"{limit // 1024} KiB"
    return f"{limit} bytes"


def read_regular_file(
    path: Path,
    *,
    limit: int,
    what: str,
    error: type[HubsnapError] = UsageError,
    not_found: type[HubsnapError] | None = None,
) -> bytes:
    """Read a regular file of at most ``limit`` bytes, refusing anything else with ``error``.

    The file is opened without blocking (a FIFO with no writer would hang a plain open) and
    checked with ``fstat`` on the open descriptor, so what is read is what was checked.
    A missing file raises ``not_found`` (default: ``error``).
    """
    name = shown(str(path), 200) if not str(path).isprintable() else str(path)
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except FileNotFoundError as e:
        raise (not_found or error)(f"{what} {name} not found") from e
    except (OSError, ValueError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else "invalid path"
        raise error(f"cannot read {what} {name}: {reason}") from e
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
            raise error(f"cannot read {what} {name}: {kind}")
        os.set_blocking(fd, True)
        chunks: list[bytes] = []
        remaining = limit + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    except OSError as e:
        raise error(f"cannot read {what} {name}: {e.strerror or 'read failed'}") from e
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise error(f"{what} {name} is over the {_size(limit)} limit")
    return data
