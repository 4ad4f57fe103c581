"""Reading a model card from a Hub that misbehaves: an endless body, a compression bomb, a
trickle. The read stops at the cap, never inflates what was sent, and ends at the timeout."""

from __future__ import annotations

import contextlib
import gzip
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from hubsnap.errors import NotFoundError, RemoteError
from hubsnap.hub import HubClient
from hubsnap.retry import RetryPolicy

COMMIT = "a" * 40
LIMIT = 4096
Script = Callable[["_Handler"], None]
STOP = threading.Event()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    script: Script

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        type(self).script(self)


def _endless(h: _Handler) -> None:
    h.send_response(200)
    h.end_headers()  # no length: the body runs until the connection closes
    with contextlib.suppress(OSError):
        while not STOP.is_set():
            h.wfile.write(b"# card\n" * 8192)
    h.close_connection = True


BOMB = gzip.compress(b"A" * (64 << 20))  # 64 MiB of text in ~64 KiB


def _bomb(h: _Handler) -> None:
    h.send_response(200)
    h.send_header("Content-Encoding", "gzip")  # sent although identity was asked for
    h.send_header("Content-Length", str(len(BOMB)))
    h.end_headers()
    with contextlib.suppress(OSError):
        h.wfile.write(BOMB)


def _trickle(h: _Handler) -> None:
    h.send_response(200)
    h.send_header("Content-Length", "1000")
    h.end_headers()
    with contextlib.suppress(OSError):
        for _ in range(1000):
            if STOP.wait(0.2):
                return
            h.wfile.write(b"x")
            h.wfile.flush()


def _missing(h: _Handler) -> None:
    body = b'{"error": "Entry not found"}'
    h.send_response(404)
    h.send_header("X-Error-Code", "EntryNotFound")
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


@contextlib.contextmanager
def _hub(script: Script) -> Iterator[HubClient]:
    handler = type("Handler", (_Handler,), {"script": staticmethod(script)})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    STOP.clear()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with HubClient(url, None, timeout=3, retry=RetryPolicy(attempts=1)) as client:
            yield client
    finally:
        STOP.set()
        server.shutdown()
        server.server_close()


def test_an_endless_card_is_read_to_the_cap_and_one_byte() -> None:
    with _hub(_endless) as client:
        data = client.file_head("org/model", COMMIT, "README.md", LIMIT)
    assert len(data) == LIMIT + 1 and data.startswith(b"# card\n")


def test_a_compressed_card_is_not_inflated() -> None:
    with _hub(_bomb) as client:
        data = client.file_head("org/model", COMMIT, "README.md", LIMIT)
    assert data == BOMB[: LIMIT + 1]  # the bytes as sent, cut at the cap


def test_a_trickled_card_ends_at_the_timeout() -> None:
    started = time.monotonic()
    with _hub(_trickle) as client, pytest.raises(RemoteError, match="within 3s"):
        client.file_head("org/model", COMMIT, "README.md", LIMIT)
    assert time.monotonic() - started < 60  # does not hang: the body alone takes 200 s


def test_a_missing_card_is_not_found() -> None:
    with _hub(_missing) as client, pytest.raises(NotFoundError, match="file not found"):
        client.file_head("org/model", COMMIT, "README.md", LIMIT)
