"""HTTP plumbing: requests in, responses out, with auth, counters and injected faults.

Routing to the Hub endpoints lives in ``hubapi`` and to the test control API in
``control``; this module owns the wire: HTTP/1.1 keep-alive, byte ranges, streaming blobs
from disk, and cutting or corrupting bodies when a fault says so.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import socket
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from hubemu.faults import Fault, Faults
from hubemu.store import Store
from hubemu.views import Views

CHUNK = 1 << 20
MAX_REQUEST_BODY = 64 << 20
OUTSIDER_TOKEN = "hf_emulator_outsider"  # noqa: S105 - a fixture token, not a secret
INVALID_CREDENTIALS = "Invalid credentials in Authorization header"


@dataclass(frozen=True)
class User:
    """Who a token belongs to. The emulator's own user can read everything."""

    name: str
    admin: bool = False
    orgs: tuple[str, ...] = ()

    def can_read(self, owner: str) -> bool:
        return self.admin or owner == self.name or owner in self.orgs

    @property
    def gated_access(self) -> bool:
        return self.admin


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Any
    body: bytes
    user: User | None
    bad_token: bool

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def args(self, *names: str) -> list[str]:
        return [v for n in names for v in self.query.get(n, [])]

    def flag(self, name: str) -> bool:
        return (self.arg(name) or "").lower() in {"1", "true", "yes"}

    @property
    def host(self) -> str:
        return str(self.headers.get("Host") or "127.0.0.1")

    def json(self) -> Any:
        return json.loads(self.body or b"{}")


@dataclass
class Response:
    """A response whose body is either bytes or a byte range of a stored blob."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    blob: tuple[str, int, int] | None = None  # sha256, start, end (exclusive)

    @property
    def length(self) -> int:
        return self.blob[2] - self.blob[1] if self.blob else len(self.body)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(data, separators=(",", ":")).encode()
    return Response(
        status, {"Content-Type": "application/json; charset=utf-8", **(headers or {})}, body
    )


def hub_error(status: int, message: str, code: str | None = None) -> Response:
    """An error as the Hub sends it: JSON body plus ``X-Error-Code``/``X-Error-Message``."""
    headers = {"X-Error-Message": message}
    if code:
        headers["X-Error-Code"] = code
    return json_response({"error": message}, status, headers)


class EmulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], store: Store, token: str) -> None:
        super().__init__(address, Handler)
        self.store = store
        self.views = Views(store.blobs)
        self.faults = Faults()
        self.users = {token: User("hubsnap-emulator", admin=True), OUTSIDER_TOKEN: User("outsider")}
        self.token = token
        self.webhooks: list[dict[str, str]] = []
        # Imported here to keep the dependency one-way (the routers import this module).
        from hubemu import control, gitserve, hubapi

        self.git = gitserve.GitService(store)
        self.routers = (control.route, self.git.route, hubapi.route)

    def server_close(self) -> None:
        super().server_close()
        self.git.close()


def _token(authorization: str) -> str | None:
    """The token of a bearer header, or the password of a basic one (git's credentials)."""
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value.strip(), validate=True).decode().partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            return ""
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: EmulatorServer
    _sent = 0  # body bytes written for the current request

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _request(self, method: str) -> Request:
        url = urlsplit(self.path)
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            body = self._read_chunked()
        else:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
        token = _token(self.headers.get("Authorization") or "")
        user = self.server.users.get(token) if token else None
        return Request(
            method,
            url.path,
            parse_qs(url.query, keep_blank_values=True),
            self.headers,
            body,
            user,
            bad_token=token is not None and user is None,
        )

    def _read_chunked(self) -> bytes:
        """A ``Transfer-Encoding: chunked`` body (git sends large fetch requests so)."""
        body = bytearray()
        while True:
            size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                return bytes(body)
            if len(body) + size > MAX_REQUEST_BODY:
                raise ValueError("request body too large")
            body += self.rfile.read(size)
            self.rfile.readline(1024)

    def _dispatch(self, method: str) -> None:
        req = self._request(method)
        control = req.path.startswith("/_emulator/")
        if not control:
            faults = self.server.faults
            faults.begin()
            try:
                self._answer(method, req, faults)
            finally:
                faults.end()
            return
        self._answer(method, req, None)

    def _answer(self, method: str, req: Request, faults: Faults | None) -> None:
        control = faults is None
        if faults is not None:
            faults.record(method, req.path, ranged=bool(req.headers.get("Range")))
            fault = faults.take(method, req.path, ("status", "delay"))
            if fault is not None and fault.kind == "delay":
                time.sleep(fault.delay)
            elif fault is not None:
                self._send(self._fault_response(fault), None)
                return
            if req.headers.get("Range") and faults.take(method, req.path, ("ignore_range",)):
                del req.headers["Range"]  # answered as a server without range support would
        response: Response | None = None
        try:
            for router in self.server.routers:
                response = router(self.server, req)
                if response is not None:
                    break
        except Exception as exc:  # a bug in the emulator must surface as a 500, not a hang
            response = json_response({"error": f"emulator error: {exc!r}"}, 500)
        if response is None:
            response = json_response({"error": "Not Found"}, 404)
        body_fault = None
        if not control and method == "GET" and response.length > 1:
            body_fault = self.server.faults.take(
                method, req.path, ("truncate", "corrupt", "throttle")
            )
        try:
            self._send(response, body_fault)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client hung up mid-body (a killed download)
        finally:  # a client that hung up mid-body still received what was sent before
            if not control:
                self.server.faults.record_bytes(method, req.path, self._sent)

    @staticmethod
    def _fault_response(fault: Fault) -> Response:
        headers = {}
        if fault.status == 429:
            headers["Retry-After"] = str(fault.retry_after if fault.retry_after is not None else 1)
        elif fault.retry_after is not None:
            headers["Retry-After"] = str(fault.retry_after)
        messages = {
            429: "Too Many Requests",
            500: "Internal Error",
            502: "Bad Gateway",
            503: "Service Unavailable",
            504: "Gateway Timeout",
        }
        message = messages.get(fault.status, "Injected failure")
        return json_response({"error": message}, fault.status, headers)

    def _send(self, response: Response, fault: Fault | None) -> None:
        self._sent = 0
        self.send_response(response.status)
        # The Hub's request ids end up in huggingface_hub's error messages.
        self.send_header("X-Request-Id", f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]}")
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(response.length))
        if fault is not None and fault.kind == "truncate":
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command == "HEAD" or response.length == 0:
            return
        limit = response.length
        if fault is not None and fault.kind == "truncate":
            limit = min(
                fault.truncate_at if fault.truncate_at is not None else limit // 2, limit - 1
            )
        corrupt = fault is not None and fault.kind == "corrupt"
        flips = {0, response.length // 2} if corrupt else set()
        written = 0
        rate = fault.rate if fault is not None and fault.kind == "throttle" else 0
        for chunk in self._chunks(response):
            piece = chunk[: max(0, limit - written)]
            if flips:
                data = bytearray(piece)
                for pos in flips:
                    if written <= pos < written + len(data):
                        data[pos - written] ^= 0xFF
                piece = bytes(data)
            if rate:
                self._trickle(piece, rate)
            else:
                self.wfile.write(piece)
                self._sent += len(piece)
            written += len(piece)
            if written >= limit:
                break
        if written < response.length:
            # Announced more than we sent: drop the connection like a failed upstream would.
            self.wfile.flush()
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

    def _trickle(self, data: bytes, rate: int) -> None:
        """Send ``data`` at about ``rate`` bytes a second, in pieces of a tenth of that."""
        step = max(1, rate // 10)
        for pos in range(0, len(data), step):
            piece = data[pos : pos + step]
            self.wfile.write(piece)
            self.wfile.flush()
            self._sent += len(piece)
            time.sleep(len(piece) / rate)

    def _chunks(self, response: Response) -> Any:
        if response.blob is None:
            yield response.body
            return
        sha, start, end = response.blob
        pos = start
        while pos < end:
            step = min(CHUNK, end - pos)
            yield self.server.store.blobs.read(sha, pos, pos + step)
            pos += step
