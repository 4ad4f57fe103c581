"""hubsnap.http without sockets: caps while reading, deadlines, retries, origins, resume."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator

import httpx
import pytest

from hubsnap.errors import IntegrityError, RemoteError
from hubsnap.http import (
    Deadline,
    Origin,
    RateFloor,
    TLSFailure,
    iter_resumable,
    read_capped,
    send_following,
    send_with_retry,
)
from hubsnap.retry import RetryPolicy, parse_retry_after

Handler = Callable[[httpx.Request], httpx.Response]


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _client(handler: Handler) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler))


def _stream(handler: Handler, url: str = "https://h.example/x") -> httpx.Response:
    client = _client(handler)
    return client.send(client.build_request("GET", url), stream=True)


def _get(
    handler: Handler, *, attempts: int = 5, deadline: Deadline | None = None,
    sleep: Callable[[float], None] = lambda _: None, base_delay: float = 0.5,
) -> httpx.Response:  # fmt: skip
    """``GET https://h.example/`` through :func:`send_with_retry`."""
    client = _client(handler)
    policy = RetryPolicy(attempts=attempts, base_delay=base_delay, sleep=sleep)
    return send_with_retry(
        client, lambda: client.build_request("GET", "https://h.example/"), policy=policy,
        where="h.example", deadline=deadline,
    )  # fmt: skip


def _endless(served: list[int], piece: bytes = b"x" * 65536) -> Iterator[bytes]:
    while True:
        served.append(len(piece))
        yield piece


def test_an_endless_body_is_refused_while_reading_near_the_cap() -> None:
    served: list[int] = []
    response = _stream(lambda request: httpx.Response(200, content=_endless(served)))
    with pytest.raises(RemoteError) as info:
        read_capped(response, 16 * 1024, "token response")
    assert info.value.exit_code == 5
    assert info.value.message == "token response is larger than 16 KiB"
    assert sum(served) <= 2 * 65536


def test_content_over_its_cap_is_the_callers_integrity_error() -> None:
    response = _stream(lambda request: httpx.Response(200, content=b"y" * 5000))
    with pytest.raises(IntegrityError, match="manifest is larger than 4096 bytes"):
        read_capped(response, 4096, "manifest", error=IntegrityError, limit_text="4096 bytes")


def test_a_trickled_body_fails_at_the_deadline() -> None:
    clock = Clock()

    def trickle() -> Iterator[bytes]:
        while True:
            clock.now += 0.5  # two bytes a second
            yield b"x"

    response = _stream(lambda request: httpx.Response(200, content=trickle()))
    with pytest.raises(RemoteError, match=r"error body: not done within 10s"):
        read_capped(response, 4096, "error body", deadline=Deadline(10, clock=clock))
    assert clock.now <= 1000.0 + 10.5


def test_a_rate_floor_fails_a_slow_body_within_one_window_and_passes_a_fast_one() -> None:
    clock = Clock()
    floor = RateFloor(5.0, 1024, clock=clock)
    for _ in range(100):  # fast enough: 2 KiB a second
        clock.now += 1
        floor.advance(2048, "blob")
    slow = RateFloor(5.0, 1024, clock=clock)
    with pytest.raises(RemoteError, match="blob: the transfer stalled"):
        for _ in range(6):
            clock.now += 1
            slow.advance(2, "blob")


def test_retry_after_with_non_ascii_digits_falls_back_to_backoff() -> None:
    assert "²".isdigit() and parse_retry_after("²") is None
    assert parse_retry_after("３") is None
    assert parse_retry_after("7") == 7.0
    calls: list[httpx.Request] = []
    slept: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(
            503 if len(calls) == 1 else 200, headers={b"Retry-After": "²".encode()}
        )

    response = _get(handler, attempts=3, base_delay=0.25, sleep=slept.append)
    assert response.status_code == 200
    assert len(slept) == 1 and 0.125 <= slept[0] <= 0.25


def test_transport_failures_are_retried_then_a_remote_error() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(RemoteError) as info:
        _get(handler, attempts=3)
    assert info.value.message == "cannot reach h.example: ReadTimeout"
    assert len(calls) == 3


def test_no_retry_is_started_that_would_outlast_the_deadline() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(429, headers={"Retry-After": "30"})

    response = _get(handler, deadline=Deadline(5))
    assert response.status_code == 429 and len(calls) == 1


@pytest.mark.parametrize(
    ("code", "says", "hint"),
    [
        (20, "signed by an unknown authority", "--ca-file"),
        (62, "for another host name", "connect by the name"),
    ],
)
def test_certificate_failures_are_not_retried_and_say_what_failed(
    code: int, says: str, hint: str
) -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        cause = ssl.SSLCertVerificationError(1, "certificate verify failed")
        cause.verify_code = code
        raise httpx.ConnectError("certificate verify failed", request=request) from cause

    with pytest.raises(TLSFailure) as info:
        _get(handler)
    assert len(calls) == 1
    assert info.value.exit_code == 5
    assert info.value.message == f"TLS to h.example failed: its certificate is {says}"
    assert hint in (info.value.hint or "")


def test_origins_compare_scheme_host_and_effective_port() -> None:
    assert Origin.of("https://Reg.Example/v2/") == Origin.of("https://reg.example:443/x")
    assert Origin.of("http://reg.example/") != Origin.of("https://reg.example/")
    assert Origin.of("https://reg.example:5000/") != Origin.of("https://reg.example/")
    with pytest.raises(ValueError):
        Origin.of("ftp://reg.example/")
    with pytest.raises(ValueError):
        Origin.of("/relative")


def test_credentials_follow_redirects_only_on_their_origin() -> None:
    seen: list[tuple[str, str, str | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, str(request.url), request.headers.get("Authorization")))
        if request.url.path == "/a":
            return httpx.Response(307, headers={"Location": "/b"})
        if request.url.path == "/b":
            return httpx.Response(303, headers={"Location": "https://other.example/c"})
        if request.url.host == "other.example":
            return httpx.Response(302, headers={"Location": "https://reg.example:443/d"})
        return httpx.Response(200)

    response = send_following(
        _client(handler), "PUT", "https://reg.example/a", headers={},
        authorization="Basic c2VjcmV0", credential_origin=Origin.of("https://reg.example"),
        content=lambda: [b"data"],
    )  # fmt: skip
    assert response.status_code == 200
    assert seen == [
        ("PUT", "https://reg.example/a", "Basic c2VjcmV0"),
        ("PUT", "https://reg.example/b", "Basic c2VjcmV0"),
        ("GET", "https://other.example/c", None),
        ("GET", "https://reg.example/d", "Basic c2VjcmV0"),
    ]


def test_a_resumed_download_stops_at_the_expected_size() -> None:
    served: list[int] = []
    opened: list[int] = []

    def open_at(start: int) -> httpx.Response:
        opened.append(start)
        return _stream(lambda request: httpx.Response(200, content=_endless(served, b"z" * 1000)))

    chunks = iter_resumable(
        open_at, what="blob b", policy=RetryPolicy(sleep=lambda _: None), size=2500
    )
    with pytest.raises(IntegrityError, match="blob b: the server sent more than the 2500 bytes"):
        b"".join(chunks)
    assert opened == [0] and sum(served) <= 3000


def test_a_partial_answer_from_the_wrong_offset_is_refused() -> None:
    def open_at(start: int) -> httpx.Response:
        if start == 0:
            return _stream(lambda request: httpx.Response(200, content=b"ab"))
        raise AssertionError("no resume expected")

    assert (
        b"".join(
            iter_resumable(open_at, what="b", policy=RetryPolicy(sleep=lambda _: None), size=2)
        )
        == b"ab"
    )

    def wrong(start: int) -> httpx.Response:
        if start == 0:
            return _stream(lambda request: httpx.Response(200, content=b"ab"))
        headers = {"Content-Range": "bytes 0-3/4"}
        return _stream(lambda request: httpx.Response(206, content=b"abcd", headers=headers))

    with pytest.raises(RemoteError, match="asked for bytes from 2, the server sent from 0"):
        b"".join(iter_resumable(wrong, what="b", policy=RetryPolicy(sleep=lambda _: None), size=4))


def test_a_preloaded_answer_broken_off_while_read_is_sent_again() -> None:
    calls: list[httpx.Request] = []

    class Broken(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            yield b'{"par'
            raise httpx.ReadError("peer closed connection mid-body")

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            return httpx.Response(200, stream=Broken())
        return httpx.Response(200, json={"whole": True}, headers={"Content-Encoding": "identity"})

    client = _client(handler)
    response = send_with_retry(
        client, lambda: client.build_request("GET", "https://h.example/"),
        policy=RetryPolicy(sleep=lambda _: None), where="h.example", preload=1024, what="list",
    )  # fmt: skip
    assert response.json() == {"whole": True}
    assert len(calls) == 2
    assert response.is_closed


@pytest.mark.parametrize("honours_range", [True, False], ids=["206", "200"])
def test_a_download_starts_where_an_earlier_one_stopped(honours_range: bool) -> None:
    body = bytes(range(256)) * 4
    opened: list[int] = []
    restarts: list[int] = []

    def open_at(start: int) -> httpx.Response:
        opened.append(start)
        if not honours_range:
            return _stream(lambda request: httpx.Response(200, content=body))
        headers = {"Content-Range": f"bytes {start}-{len(body) - 1}/{len(body)}"}
        rest = body[start:]
        return _stream(lambda request: httpx.Response(206, content=rest, headers=headers))

    policy = RetryPolicy(sleep=lambda _: None)
    chunks = iter_resumable(
        open_at, what="f", policy=policy, size=len(body), start=300,
        restart=lambda: restarts.append(1),
    )  # fmt: skip
    got = b"".join(chunks)
    assert opened == [300]
    # 206: only the rest arrives; 200: the caller drops what it had and gets it all again.
    assert (got, restarts) == ((body[300:], []) if honours_range else (body, [1]))
