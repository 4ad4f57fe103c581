"""A registry on loopback that misbehaves on command, and a second origin that watches.

:class:`HostileServer` is a small threaded HTTP/1.1 server on ``127.0.0.1`` (a free port).
Each request goes to its ``route`` (a function of :class:`Seen`, the request as received),
which returns a :class:`Reply`; :class:`HonestRoutes` answers the OCI distribution calls a
pull or push makes from in-memory manifests and blobs, so that a test replaces only the
answer it wants to be hostile. Replies may be endless or trickled (a delay between bytes);
the server stops writing once the client hangs up or the server is stopped.

Every request is kept in ``seen`` with its ``Authorization`` header, so a test can check
that no credential reached a server it was not meant for (run a second server: another port
is another origin).
"""

from __future__ import annotations

import contextlib
import http.server
import re
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from hubsnap.canonical import canonical_json
from hubsnap.digest import sha256_bytes
from hubsnap.models import MEDIA_TYPE_IMAGE_MANIFEST
from support.httpbody import read_request_body

__all__ = [
    "HonestRoutes",
    "HostileServer",
    "Reply",
    "Seen",
    "endless",
    "hostile_server",
    "self_signed",
    "trickle",
]


@dataclass(frozen=True)
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    @property
    def authorization(self) -> str | None:
        return self.headers.get("authorization")


@dataclass
class Reply:
    """An answer: a fixed body gets a Content-Length, an iterable one is sent until it ends
    (or the client hangs up) and then the connection closes. ``headers`` values may be bytes
    (sent as they are, e.g. a non-ASCII ``Retry-After``)."""

    status: int = 200
    headers: list[tuple[str, str | bytes]] = field(default_factory=list)
    body: bytes | Iterable[bytes] = b""


def endless(chunk: bytes = b"x" * 65536) -> Iterator[bytes]:
    """A body that never ends."""
    while True:
        yield chunk


def trickle(bytes_per_second: float, total: int | None = None) -> Iterator[bytes]:
    """One byte at a time, ``bytes_per_second`` of them a second, ``total`` bytes (or forever)."""
    sent = 0
    while total is None or sent < total:
        time.sleep(1 / bytes_per_second)
        sent += 1
        yield b" "


Route = Callable[[Seen], Reply]


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _body(self) -> bytes:
        return read_request_body(self)

    def _handle(self) -> None:
        path, _, query = self.path.partition("?")
        seen = Seen(
            self.command, path, query, {k.lower(): v for k, v in self.headers.items()}, self._body()
        )
        self.server.owner.seen.append(seen)
        reply = self.server.owner.route(seen)
        self._send(reply)

    def _send(self, reply: Reply) -> None:
        self.send_response_only(reply.status)
        names = {name.lower() for name, _ in reply.headers}
        for name, value in reply.headers:
            # send_header writes latin-1: bytes pass through unchanged.
            self.send_header(name, value.decode("latin-1") if isinstance(value, bytes) else value)
        fixed = isinstance(reply.body, bytes)
        if fixed and "content-length" not in names:
            assert isinstance(reply.body, bytes)
            self.send_header("Content-Length", str(len(reply.body)))
        if not fixed:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command == "HEAD":
            return
        stopped = self.server.owner.stopped
        try:
            for chunk in [reply.body] if isinstance(reply.body, bytes) else reply.body:
                if stopped.is_set():
                    break
                self.wfile.write(chunk)
                self.wfile.flush()
                self.server.owner.bytes_sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _handle


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    owner: HostileServer


class HostileServer:
    """A running server: ``host`` is ``127.0.0.1:PORT``; set ``route`` to script it."""

    def __init__(self, route: Route | None = None, *, tls: ssl.SSLContext | None = None) -> None:
        self.route: Route = route or (lambda seen: Reply(404))
        self.seen: list[Seen] = []
        self.bytes_sent = 0
        self.stopped = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.host = f"127.0.0.1:{self._server.server_address[1]}"
        self.url = f"{'https' if tls else 'http'}://{self.host}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.stopped.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def authorizations(self) -> list[str]:
        """Every ``Authorization`` value this server received."""
        return [s.authorization for s in self.seen if s.authorization is not None]


@contextlib.contextmanager
def hostile_server(
    route: Route | None = None, *, tls: ssl.SSLContext | None = None
) -> Iterator[HostileServer]:
    server = HostileServer(route, tls=tls)
    try:
        yield server
    finally:
        server.stop()


def self_signed(directory: Path, name: str) -> tuple[Path, ssl.SSLContext]:
    """A self-signed certificate for ``name`` (written to ``directory/cert.pem``) and a
    server context that presents it."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", f"/CN={name}",
         "-addext", f"subjectAltName=DNS:{name}"],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return cert, context


_MANIFEST = re.compile(r"^/v2/(?P<repo>.+)/manifests/(?P<ref>[^/]+)$")
_BLOB = re.compile(r"^/v2/(?P<repo>.+)/blobs/(?P<digest>sha256:[0-9a-f]{64})$")
_UPLOADS = re.compile(r"^/v2/(?P<repo>.+)/blobs/uploads/(?P<session>[^/]*)$")


class HonestRoutes:
    """The distribution API over in-memory content: what a hostile route falls back to.

    ``manifests`` and ``blobs`` map digests (``sha256:…``) to bytes; uploads are stored
    when their digest checks out. ``upload_base`` puts upload sessions on another origin.
    """

    def __init__(self) -> None:
        self.manifests: dict[str, bytes] = {}
        self.blobs: dict[str, bytes] = {}
        self.upload_base = ""
        self._uploads: dict[str, bytearray] = {}

    def add_model(
        self, files: dict[str, bytes], *, external: dict[str, tuple[str, int]] | None = None
    ) -> str:
        """Store a minimal OCI manifest with ``files`` as layers; its digest. ``external``
        adds layers by (digest, size) whose bytes this object does not hold (a test's own
        route serves them)."""
        config = b"{}"
        self.blobs[str(sha256_bytes(config))] = config
        named = [(name, str(sha256_bytes(data)), len(data)) for name, data in files.items()]
        for data in files.values():
            self.blobs[str(sha256_bytes(data))] = data
        named += [(name, digest, size) for name, (digest, size) in (external or {}).items()]
        layers = []
        for name, digest, size in named:
            layers.append(
                {
                    "mediaType": "application/vnd.cncf.model.weight.v1.raw",
                    "digest": digest,
                    "size": size,
                    "annotations": {"org.cncf.model.filepath": name},
                }
            )
        manifest = canonical_json(
            {
                "schemaVersion": 2,
                "mediaType": MEDIA_TYPE_IMAGE_MANIFEST,
                "artifactType": "application/vnd.cncf.model.manifest.v1+json",
                "config": {
                    "mediaType": "application/vnd.cncf.model.config.v1+json",
                    "digest": str(sha256_bytes(config)),
                    "size": len(config),
                },
                "layers": layers,
            }
        )
        digest = str(sha256_bytes(manifest))
        self.manifests[digest] = manifest
        return digest

    def __call__(self, seen: Seen) -> Reply:
        if seen.path in {"/v2/", "/v2"}:
            return Reply(200, body=b"{}")
        if match := _MANIFEST.match(seen.path):
            return self._manifest(seen, match.group("ref"))
        if match := _BLOB.match(seen.path):
            data = self.blobs.get(match.group("digest"))
            if data is None:
                return Reply(404, body=b'{"errors":[{"code":"BLOB_UNKNOWN"}]}')
            return Reply(200, body=data)
        if match := _UPLOADS.match(seen.path):
            return self.upload(seen, match.group("session"))
        if seen.path.startswith("/upload/"):
            return self.upload(seen, seen.path.removeprefix("/upload/"))
        return Reply(404)

    def _manifest(self, seen: Seen, ref: str) -> Reply:
        if seen.method == "PUT":
            digest = str(sha256_bytes(seen.body))
            self.manifests[digest] = seen.body
            return Reply(201, [("Docker-Content-Digest", digest)])
        data = self.manifests.get(ref)
        if data is None:
            return Reply(404, body=b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')
        return Reply(200, [("Content-Type", MEDIA_TYPE_IMAGE_MANIFEST)], data)

    def upload(self, seen: Seen, session: str) -> Reply:
        if seen.method == "POST":
            name = uuid.uuid4().hex
            self._uploads[name] = bytearray()
            base = self.upload_base or seen.path.rstrip("/")
            location = f"{base}/{name}" if self.upload_base else f"{seen.path}{name}"
            return Reply(202, [("Location", location)])
        if session not in self._uploads:
            return Reply(404)
        self._uploads[session] += seen.body
        if seen.method == "PUT":
            data = bytes(self._uploads.pop(session))
            digest = dict(p.split("=", 1) for p in seen.query.split("&") if "=" in p)["digest"]
            digest = digest.replace("%3A", ":")
            if str(sha256_bytes(data)) != digest:
                return Reply(400, body=b'{"errors":[{"code":"DIGEST_INVALID"}]}')
            self.blobs[digest] = data
            return Reply(201, [("Docker-Content-Digest", digest)])
        return Reply(202, [("Location", seen.path)])
