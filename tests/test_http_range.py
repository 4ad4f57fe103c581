"""hubsnap.http's byte-range reads without sockets: a ``206`` held to the range asked, a
``200`` (``Range`` ignored) read to the range's end and no further, breaks asked again."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from hubsnap.errors import IntegrityError, RemoteError
from hubsnap.http import fetch_range, range_header, read_range
from hubsnap.retry import RetryPolicy

BLOB = bytes(range(256)) * 64  # 16 KiB, each byte telling its offset modulo 256


def _stream(response: httpx.Response) -> httpx.Response:
    client = httpx.Client(transport=httpx.MockTransport(lambda request: response))
    return client.send(client.build_request("GET", "https://h.example/b"), stream=True)


def _counted(served: list[int], piece: int = 4096) -> Iterator[bytes]:
    """The blob, then more of it forever, counting what was served."""
    position = 0
    while True:
        chunk = bytes((position + i) % 256 for i in range(piece))
        served.append(len(chunk))
        position += piece
        yield chunk


def test_range_header_names_the_inclusive_end() -> None:
    assert range_header(0, 8) == "bytes=0-7"
    assert range_header(8, 100) == "bytes=8-107"


def test_a_partial_answer_gives_exactly_the_range() -> None:
    headers = {"Content-Range": f"bytes 8-107/{len(BLOB)}"}
    response = _stream(httpx.Response(206, content=BLOB[8:108], headers=headers))
    span = read_range(response, 8, 100, what="b", total=len(BLOB))
    assert (span.data, span.received, span.whole) == (BLOB[8:108], 100, False)


def test_a_whole_answer_is_read_to_the_range_end_and_no_further() -> None:
    served: list[int] = []
    response = _stream(httpx.Response(200, content=_counted(served)))
    span = read_range(response, 8, 100, what="b")
    assert span.data == BLOB[8:108] and span.whole
    assert span.received == sum(served) <= 4096  # one piece held the range: nothing more read


def test_a_whole_answer_of_another_size_is_refused() -> None:
    headers = {"Content-Length": str(len(BLOB))}
    response = _stream(httpx.Response(200, content=BLOB, headers=headers))
    with pytest.raises(IntegrityError, match=f"the file is {len(BLOB)} bytes, not the 999"):
        read_range(response, 0, 8, what="b", total=999)


def test_a_partial_answer_longer_than_asked_is_cut_off_while_read() -> None:
    served: list[int] = []
    headers = {"Content-Range": "bytes 0-7/99999999"}
    response = _stream(httpx.Response(206, content=_counted(served), headers=headers))
    with pytest.raises(IntegrityError, match="larger than 8 bytes"):
        read_range(response, 0, 8, what="b")
    assert sum(served) == 4096


@pytest.mark.parametrize(
    ("content_range", "error", "message"),
    [
        ("bytes 0-99/16384", RemoteError, "asked for bytes 8-107, the server sent 0-99"),
        ("bytes 8-107/20000", IntegrityError, "the file is 20000 bytes, not the 16384 expected"),
        ("bytes 8-107", RemoteError, "unreadable Content-Range"),
    ],
)
def test_a_partial_answer_naming_another_range_or_size_is_refused(
    content_range: str, error: type[Exception], message: str
) -> None:
    headers = {"Content-Range": content_range}
    response = _stream(httpx.Response(206, content=BLOB[8:108], headers=headers))
    with pytest.raises(error, match=message):
        read_range(response, 8, 100, what="b", total=len(BLOB))


def test_an_answer_that_ends_inside_the_range_is_refused() -> None:
    response = _stream(httpx.Response(200, content=BLOB[:50]))
    with pytest.raises(IntegrityError, match="the server sent 50 of the 108 bytes needed"):
        read_range(response, 8, 100, what="b")


def test_a_range_broken_off_while_read_is_asked_again() -> None:
    opened: list[int] = []

    class Broken(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            yield BLOB[:3]
            raise httpx.ReadError("peer closed connection mid-body")

    def open_range() -> httpx.Response:
        opened.append(1)
        if len(opened) == 1:
            return _stream(httpx.Response(206, stream=Broken()))
        return _stream(httpx.Response(206, content=BLOB[:8]))

    span = fetch_range(open_range, 0, 8, what="b", policy=RetryPolicy(sleep=lambda _: None))
    assert span.data == BLOB[:8] and len(opened) == 2
