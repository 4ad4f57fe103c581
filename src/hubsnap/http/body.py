"""Reading response bodies with a cap and a time limit, both enforced while reading.

A body is never read whole and then measured: reading stops at the first chunk that takes
it past its cap, so an endless or oversized answer costs at most the cap plus one chunk.
Protocol answers (errors, tokens, listings) over their cap are :class:`RemoteError`;
content (manifests, blobs) passes ``error=IntegrityError``, since bytes beyond what a
descriptor promised are bad content, not a network fault.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import httpx

from hubsnap.errors import HubsnapError, RemoteError
from hubsnap.http.deadline import Deadline, RateFloor
from hubsnap.http.failures import BodyInterrupted

__all__ = ["DEFAULT_CHUNK", "buffered", "iter_body", "read_capped", "size_text"]

DEFAULT_CHUNK = 64 * 1024


def size_text(limit: int) -> str:
    """``limit`` as people say it: ``4 MiB``, ``16 KiB`` or ``1000 bytes``."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if limit >= scale and limit % scale == 0:
            return f"{limit // scale} {unit}"
    return f"{limit} bytes"


def iter_body(
    response: httpx.Response,
    *,
    what: str,
    limit: int | None = None,
    deadline: Deadline | None = None,
    floor: RateFloor | None = None,
    chunk_size: int | None = None,
    error: type[HubsnapError] = RemoteError,
    limit_text: str | None = None,
    decode: bool = True,
) -> Iterator[bytes]:
    """The chunks of a streamed body, as they arrive.

    Raises ``error`` as soon as more than ``limit`` bytes came, :class:`RemoteError` when
    ``deadline`` passes or the body falls below ``floor``, and :class:`BodyInterrupted` (a
    :class:`RemoteError`) when the connection breaks off. The caller closes ``response``.

    ``decode=False`` gives the bytes as sent, whatever ``Content-Encoding`` says: right for
    content addressed by its digest, and no decompression bomb can inflate a chunk.
    """
    received = 0
    if response.is_stream_consumed:  # read before: its bytes are held (httpx's own caching)
        chunks: Iterator[bytes] = iter([response.content])
    elif decode:
        chunks = response.iter_bytes(chunk_size)
    else:
        chunks = response.iter_raw(chunk_size)
    try:
        for chunk in chunks:
            received += len(chunk)
            if limit is not None and received > limit:
                raise error(f"{what} is larger than {limit_text or size_text(limit)}")
            if deadline is not None:
                deadline.check(what)
            if floor is not None:
                floor.advance(len(chunk), what)
            yield chunk
    except httpx.TransportError as e:
        raise BodyInterrupted(
            f"{what}: connection dropped after {received} bytes ({type(e).__name__})",
            hint="retry; check the connection or raise --timeout",
        ) from e
    except httpx.DecodingError as e:
        raise RemoteError(f"{what}: the body could not be decoded ({e})") from e


def read_capped(
    response: httpx.Response,
    limit: int,
    what: str,
    *,
    deadline: Deadline | None = None,
    error: type[HubsnapError] = RemoteError,
    limit_text: str | None = None,
    decode: bool = True,
) -> bytes:
    """A streamed body read whole, refused (``error``) once it passes ``limit`` bytes.

    ``decode`` is :func:`iter_body`'s.
    """
    data = bytearray()
    for chunk in iter_body(
        response, what=what, limit=limit, deadline=deadline, error=error,
        limit_text=limit_text, decode=decode,
    ):  # fmt: skip
        data += chunk
    return bytes(data)


def buffered(
    response: httpx.Response,
    limit: int,
    what: str,
    *,
    deadline: Deadline | None = None,
    error: type[HubsnapError] = RemoteError,
    decode: bool = True,
) -> httpx.Response:
    """``response`` with its body read (as :func:`read_capped`) and the connection closed.

    The copy holds the bytes as read and no ``Content-Encoding``, so ``.content``,
    ``.json()`` and :func:`read_capped` work on it; status, headers (as sent) and request
    are the original's.
    """
    with contextlib.closing(response):
        data = read_capped(response, limit, what, deadline=deadline, error=error, decode=decode)
    kept = [(k, v) for k, v in response.headers.raw if k.lower() != b"content-encoding"]
    return httpx.Response(
        response.status_code, headers=kept, content=data, request=response.request
    )
