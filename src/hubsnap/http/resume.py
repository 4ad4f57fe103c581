"""One streamed download that survives dropped connections by resuming with ``Range``.

:func:`iter_resumable` asks for the rest of a body after each break (``Range:
bytes=N-``); a server that ignores ``Range`` answers ``200`` with the whole body again and
the bytes already delivered are skipped (or, for a caller that can drop them, the body starts
over). A download can start where an earlier one stopped. With a known ``size`` the stream
stops the moment a
server sends more than that (the caller's ``error``, exit 6 for content) instead of filling a
disk, and a body that ends short is resumed like a dropped one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import httpx

from hubsnap.errors import HubsnapError, IntegrityError, RemoteError
from hubsnap.http.body import iter_body
from hubsnap.http.deadline import RateFloor
from hubsnap.http.failures import BodyInterrupted
from hubsnap.http.send import pause
from hubsnap.retry import RetryPolicy

__all__ = ["body_offset", "iter_resumable"]

_CONTENT_RANGE = re.compile(r"^bytes ([0-9]{1,19})-([0-9]{1,19})/([0-9]{1,19}|\*)$", re.ASCII)


def body_offset(response: httpx.Response, asked: int, what: str) -> int:
    """Where in the whole the body of ``response`` to ``Range: bytes=asked-`` starts."""
    if response.status_code != 206:
        return 0
    header = response.headers.get("Content-Range")
    if header is None:  # taken to start where asked, as servers that omit it mean
        return asked
    match = _CONTENT_RANGE.match(header.strip())
    if match is None:
        raise RemoteError(f"{what}: the server sent an unreadable Content-Range")
    start = int(match.group(1))
    if start != asked:
        raise RemoteError(f"{what}: asked for bytes from {asked}, the server sent from {start}")
    return start


def iter_resumable(
    open_at: Callable[[int], httpx.Response],
    *,
    what: str,
    policy: RetryPolicy,
    size: int | None = None,
    floor_window: float | None = None,
    error: type[HubsnapError] = IntegrityError,
    decode: bool = True,
    start: int = 0,
    restart: Callable[[], None] | None = None,
) -> Iterator[bytes]:
    """The body's chunks from byte ``start`` on, resumed after breaks, at most ``size``
    bytes in all (counting from 0).

    ``open_at(start)`` sends the request (with ``Range: bytes=start-`` when ``start`` is
    not 0), checks its status and returns the open streamed response; this closes it.
    ``floor_window`` enforces :class:`RateFloor` (``--timeout`` as a window) on each body;
    ``decode`` is :func:`~hubsnap.http.body.iter_body`'s. With ``restart``, a server that
    ignores ``Range`` makes this call ``restart()`` (the caller drops what it holds) and
    yield the whole body from byte 0 again, rather than skip what the caller already has.
    """
    delivered = start
    failures = 0
    while True:
        response = open_at(delivered)
        try:
            offset = body_offset(response, delivered, what)
            if offset < delivered and restart is not None:
                restart()
                delivered = 0
            skip = delivered - offset
            floor = RateFloor(floor_window) if floor_window else None
            for chunk in iter_body(response, what=what, floor=floor, decode=decode):
                piece = chunk
                if skip:
                    dropped = min(skip, len(piece))
                    piece, skip = piece[dropped:], skip - dropped
                    if not piece:
                        continue
                if size is not None and delivered + len(piece) > size:
                    raise error(f"{what}: the server sent more than the {size} bytes expected")
                delivered += len(piece)
                yield piece
            if size is None or delivered == size:
                return
            raise BodyInterrupted(f"{what}: the body ended after {delivered} of {size} bytes")
        except BodyInterrupted as e:
            failures += 1
            if not pause(policy, failures, None):
                raise RemoteError(
                    f"{what}: connection dropped after {delivered} bytes "
                    f"({failures} attempt{'s' if failures > 1 else ''})",
                    hint="retry; a later pull resumes from the local store",
                ) from e
        finally:
            response.close()
