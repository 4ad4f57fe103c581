"""A counting proxy in front of a real registry, for tests that run hubsnap in a subprocess.

:class:`CountingProxy` listens on a free loopback port and forwards every request to the
registry unchanged (the ``Host`` header too, so upload ``Location`` URLs point back at the
proxy). It records each blob upload the registry completed (the ``PUT``/``POST`` that carries
``?digest=`` and was answered 201), so a test can tell which blobs were sent and how often.
:meth:`CountingProxy.hold_uploads_after` stops the uploads after the first ``n`` completed:
the next one waits, unforwarded, until :meth:`release` (with ``drop`` it is then answered
503 and never reaches the registry), which lets a test kill the client mid-push.
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import re
import threading
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

from support.httpbody import read_request_body

__all__ = ["CountingProxy", "counting_proxy"]

_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection"}
_UPLOAD = re.compile(r"^/v2/.+/blobs/uploads/")


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _body(self) -> bytes:
        return read_request_body(self)

    def _forward(self) -> None:
        body = self._body()
        proxy = self.server.proxy
        url = urlsplit(self.path)
        digest = parse_qs(url.query).get("digest", [None])[0]
        completes = self.command in ("PUT", "POST") and bool(_UPLOAD.match(url.path)) and digest
        if completes and not proxy.admit():
            self._reply(503, b'{"errors":[{"code":"UNAVAILABLE"}]}')
            return
        try:
            self._relay(body, bool(completes), digest)
        finally:
            if completes:
                proxy.done()

    def _relay(self, body: bytes, completes: bool, digest: str | None) -> None:
        proxy = self.server.proxy
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
        headers["Content-Length"] = str(len(body))
        upstream = http.client.HTTPConnection(proxy.upstream, timeout=60)
        try:
            upstream.request(self.command, self.path, body=body, headers=headers)
            response = upstream.getresponse()
            data = response.read()
        finally:
            upstream.close()
        if completes and response.status == 201 and digest is not None:
            proxy.record(digest)
        self.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in _HOP:
                self.send_header(key, value)
        length = response.getheader("Content-Length") if self.command == "HEAD" else None
        self.send_header("Content-Length", length or str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _reply(self, status: int, data: bytes) -> None:
        with contextlib.suppress(OSError):
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _forward


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    proxy: CountingProxy


class CountingProxy:
    """A forwarding proxy on ``host`` (``127.0.0.1:PORT``) for the registry at ``upstream``."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.proxy = self
        self._lock = threading.Lock()
        self._uploads: list[str] = []
        self._admitted = 0
        self._in_flight = 0
        self._hold_after: int | None = None
        self._release = threading.Event()
        self._drop = False
        self.holding = threading.Event()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    def uploads(self) -> list[str]:
        """Digests of the blob uploads the registry completed, in order."""
        with self._lock:
            return list(self._uploads)

    def record(self, digest: str) -> None:
        with self._lock:
            self._uploads.append(digest)

    def hold_uploads_after(self, count: int) -> None:
        """Forward ``count`` more uploads, then hold the next ones (see :meth:`release`)."""
        with self._lock:
            self._hold_after = self._admitted + count
            self._release.clear()
            self._drop = False

    def admit(self) -> bool:
        """Whether an upload may go on now; waits while uploads are held."""
        with self._lock:
            held = self._hold_after is not None and self._admitted >= self._hold_after
            if not held:
                self._admitted += 1
                self._in_flight += 1
                return True
        self.holding.set()
        self._release.wait(120)
        with self._lock:
            if not self._drop:
                self._admitted += 1
                self._in_flight += 1
            return not self._drop

    def done(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def settled(self) -> bool:
        """No upload is being forwarded (held ones wait unforwarded)."""
        with self._lock:
            return self._in_flight == 0

    def release(self, *, drop: bool) -> None:
        """Stop holding; held uploads are forwarded, or with ``drop`` answered 503."""
        with self._lock:
            self._hold_after = None
            self._drop = drop
        self._release.set()

    def stop(self) -> None:
        self.release(drop=True)
        self._server.shutdown()
        self._server.server_close()


@contextlib.contextmanager
def counting_proxy(upstream: str) -> Iterator[CountingProxy]:
    proxy = CountingProxy(upstream)
    try:
        yield proxy
    finally:
        proxy.stop()
