"""Serving a local model as a Hugging Face task JSON endpoint (what ``serve-model`` runs).

:class:`TaskServer` answers ``POST / {"inputs": text | [texts]}`` with what a
:class:`TaskSource` (the ``transformers`` runner) says, in the shape the Hub's task endpoints
use and :mod:`.endpoints` reads; ``GET /`` says which task and model it serves. Requests are
bounded: a ``Content-Length`` is required and at most :data:`MAX_BODY` bytes are read, the
JSON goes through :func:`~hubsnap.documents.load_json`, and at most :data:`MAX_INPUTS` texts
are taken per request. One request runs the model at a time (pipelines are not thread-safe).
It listens on loopback unless told otherwise.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Protocol

from hubsnap.diff.behaviour.model import Task
from hubsnap.documents import InvalidDocument, load_json
from hubsnap.errors import HubsnapError

__all__ = ["MAX_BODY", "MAX_INPUTS", "TaskServer", "TaskSource"]

#: The largest request body read.
MAX_BODY = 4 * 1024 * 1024
#: The most texts one request may send.
MAX_INPUTS = 256


class TaskSource(Protocol):
    """What a task server answers from: task JSON, one item per text."""

    @property
    def name(self) -> str: ...

    def answer(self, texts: Sequence[str], task: Task) -> list[Any]: ...


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass  # the command prints its own line; no per-request noise on stderr

    def _reply(self, status: int, value: object) -> None:
        body = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _refuse(self, status: int, message: str) -> None:
        self.close_connection = True  # a body left unread must not be taken for a request
        self._reply(status, {"error": message})

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] not in ("/", "/health"):
            self._refuse(404, "not found")
            return
        owner = self.server.owner
        self._reply(200, {"task": owner.task.value, "model": owner.source.name})

    def do_POST(self) -> None:
        if self.path.split("?", 1)[0] != "/":
            self._refuse(404, "not found")
            return
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self._refuse(411, "a Content-Length is required")
            return
        if int(length) > MAX_BODY:
            self._refuse(413, f"the request is larger than {MAX_BODY} bytes")
            return
        try:
            request = load_json(self.rfile.read(int(length)), "the request", max_bytes=MAX_BODY)
        except InvalidDocument as e:
            self._refuse(400, str(e))
            return
        inputs = request.get("inputs") if isinstance(request, dict) else None
        single = isinstance(inputs, str)
        texts = [inputs] if single else inputs
        if (
            not isinstance(texts, list) or not texts or len(texts) > MAX_INPUTS
            or not all(isinstance(t, str) for t in texts)
        ):  # fmt: skip
            self._refuse(400, f'"inputs" must be a string or a list of 1 to {MAX_INPUTS} strings')
            return
        owner = self.server.owner
        try:
            with owner.lock:
                items = owner.source.answer(texts, owner.task)
        except HubsnapError as e:
            self._refuse(500, e.message)
            return
        if single:  # as the Hub answers one text: classification still a list of lists
            self._reply(200, items if owner.task is Task.TEXT_CLASSIFICATION else items[0])
        else:
            self._reply(200, items)

    def do_PUT(self) -> None:
        self._refuse(405, "use POST")

    do_DELETE = do_PATCH = do_PUT


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    owner: TaskServer


class TaskServer:
    """Serves ``source`` for ``task`` on ``host:port`` (port 0: a free one, see :attr:`url`)."""

    def __init__(
        self, source: TaskSource, task: Task, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.source = source
        self.task = task
        self.lock = threading.Lock()
        self._server = _Server((host, port), _Handler)
        self._server.owner = self
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        address = self._server.server_address
        host = address[0].decode() if isinstance(address[0], bytes) else str(address[0])
        port = address[1]
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}"

    def serve_forever(self) -> None:
        """Answer requests until :meth:`close` is called (from another thread or a signal)."""
        self._server.serve_forever()

    def start(self) -> TaskServer:
        """Serve from a background thread; :meth:`close` stops it."""
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> TaskServer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
