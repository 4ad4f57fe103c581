"""Reading one byte range of a remote file from the answer to a ``Range`` request.

A server may honour ``Range: bytes=A-B`` (``206`` with exactly those bytes) or ignore it
(``200`` with the whole file). :func:`read_range` takes either answer and still reads only
what was asked: a ``206`` is held to the range it was asked (``Content-Range`` checked, body
capped at the range's length while it is read); a ``200`` is read up to the range's end
and no further, the bytes before it dropped — the caller then closes the response, which
drops the rest unread. So a server that ignores ``Range`` costs the range's end plus one
network chunk, never the whole file.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from hubsnap.errors import HubsnapError, IntegrityError, RemoteError
from hubsnap.http.body import iter_body
from hubsnap.http.deadline import Deadline
from hubsnap.http.failures import BodyInterrupted
from hubsnap.http.send import pause
from hubsnap.retry import RetryPolicy

__all__ = ["RangeBody", "fetch_range", "range_header", "read_range"]

_CONTENT_RANGE = re.compile(r"^bytes ([0-9]{1,19})-([0-9]{1,19})/([0-9]{1,19}|\*)$", re.ASCII)
_LENGTH = re.compile(r"^[0-9]{1,19}$", re.ASCII)


@dataclass(frozen=True)
class RangeBody:
    """The bytes asked for; ``received`` counts every byte read off the wire for them
    (those dropped before the range included); ``whole`` says the server ignored ``Range``
    and sent the file from its start."""

    data: bytes
    received: int
    whole: bool


def range_header(start: int, length: int) -> str:
    """The ``Range`` value for ``length`` bytes from ``start`` (``length`` > 0)."""
    return f"bytes={start}-{start + length - 1}"


def _check_content_range(
    response: httpx.Response, start: int, length: int, total: int | None, what: str
) -> None:
    header = response.headers.get("Content-Range")
    if header is None:  # taken to be the range asked, as servers that omit it mean
        return
    match = _CONTENT_RANGE.match(header.strip())
    if match is None:
        raise RemoteError(f"{what}: the server sent an unreadable Content-Range")
    first, last, size = int(match.group(1)), int(match.group(2)), match.group(3)
    if (first, last) != (start, start + length - 1):
        raise RemoteError(
            f"{what}: asked for bytes {start}-{start + length - 1}, the server sent {first}-{last}"
        )
    if total is not None and size != "*" and int(size) != total:
        raise IntegrityError(f"{what}: the file is {size} bytes, not the {total} expected")


def _check_whole_length(response: httpx.Response, total: int | None, what: str) -> None:
    header = response.headers.get("Content-Length")
    if total is None or header is None or not _LENGTH.match(header.strip()):
        return
    if int(header) != total:
        raise IntegrityError(f"{what}: the file is {int(header)} bytes, not the {total} expected")


def read_range(
    response: httpx.Response,
    start: int,
    length: int,
    *,
    what: str,
    deadline: Deadline | None = None,
    total: int | None = None,
    error: type[HubsnapError] = IntegrityError,
) -> RangeBody:
    """Bytes ``start`` to ``start + length`` from the open answer to ``Range:
    bytes=start-(start+length-1)`` (status ``206`` or ``200``; the caller checked it and
    closes the response). ``total`` is the file's size when the caller knows it: an answer
    that says otherwise is :class:`IntegrityError`. More bytes than the range holds in a
    ``206``, or fewer than it needs in either answer, is ``error``.
    """
    whole = response.status_code == 200
    if whole:
        _check_whole_length(response, total, what)
    else:
        _check_content_range(response, start, length, total, what)
    end = start + length if whole else length
    data = bytearray()
    received = 0
    chunks = iter_body(
        response, what=what, deadline=deadline, error=error, decode=False,
        limit=None if whole else length,
    )  # fmt: skip
    for chunk in chunks:
        received += len(chunk)
        data += chunk
        if whole and len(data) >= end:
            break  # the rest of the file stays unread: closing the response drops it
    if len(data) < end:
        raise error(f"{what}: the server sent {len(data)} of the {end} bytes needed")
    body = bytes(data[start:end]) if whole else bytes(data)
    return RangeBody(body, received, whole)


def fetch_range(
    open_range: Callable[[], httpx.Response],
    start: int,
    length: int,
    *,
    what: str,
    policy: RetryPolicy,
    deadline: Deadline | None = None,
    total: int | None = None,
) -> RangeBody:
    """:func:`read_range` over the answer ``open_range()`` gives (sent with the ``Range``
    header, its status checked; closed here), asked again when the connection breaks off
    inside the body, as often as ``policy`` allows before ``deadline``."""
    failures = 0
    while True:
        response = open_range()
        try:
            with contextlib.closing(response):
                return read_range(response, start, length, what=what, deadline=deadline,
                                  total=total)  # fmt: skip
        except BodyInterrupted:
            failures += 1
            if not pause(policy, failures, deadline):
                raise
