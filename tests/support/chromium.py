"""Open a local HTML file in headless Chromium with the network off, through the DevTools
protocol over ``--remote-debugging-pipe`` (stdlib only), and report what the page did:
every request it made, every console message and log entry, every uncaught exception, and
the values of JavaScript expressions evaluated once it has loaded.

Chromium reads protocol messages from fd 3 and writes them to fd 4, each a JSON object ended
by a NUL byte; the child is started with :func:`os.posix_spawn` so that those two fds are
set up without running Python code between fork and exec.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["PageRun", "chromium", "open_offline"]


def chromium() -> str | None:
    """The Chromium binary (Debian's ``chromium`` package), or ``None`` when absent."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class PageRun:
    """What loading the page produced."""

    requests: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)


class _Pipe:
    def __init__(self, write_fd: int, read_fd: int, deadline: float) -> None:
        self.write_fd, self.read_fd, self.deadline = write_fd, read_fd, deadline
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def _receive(self) -> dict[str, Any]:
        while b"\0" not in self.buffer:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("chromium did not answer in time")
            ready, _, _ = select.select([self.read_fd], [], [], left)
            if ready:
                data = os.read(self.read_fd, 1 << 16)
                if not data:
                    raise EOFError("chromium closed the DevTools pipe")
                self.buffer += data
        message, _, self.buffer = self.buffer.partition(b"\0")
        parsed: dict[str, Any] = json.loads(message)
        return parsed

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        os.write(self.write_fd, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._receive()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            self.events.append(reply)

    def wait_for(self, method: str) -> None:
        while not any(e.get("method") == method for e in self.events):
            self.events.append(self._receive())


def _record(run: PageRun, event: dict[str, Any]) -> None:
    method, params = event.get("method"), event.get("params", {})
    if method == "Network.requestWillBeSent":
        run.requests.append(params["request"]["url"])
    elif method == "Runtime.consoleAPICalled":
        texts = [str(a.get("value", a.get("description", ""))) for a in params.get("args", [])]
        run.console.append(f"{params.get('type')}: {' '.join(texts)}")
    elif method == "Log.entryAdded":
        entry = params["entry"]
        run.log.append(f"{entry.get('level')}: {entry.get('text')} ({entry.get('url', '')})")
    elif method == "Runtime.exceptionThrown":
        run.exceptions.append(json.dumps(params.get("exceptionDetails", {}))[:500])


def _reap(pid: int, grace: float = 15.0) -> None:
    """Wait for the browser to exit after ``Browser.close``; kill it past ``grace``."""
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return
        time.sleep(0.05)
    os.kill(pid, 9)
    os.waitpid(pid, 0)


def open_offline(path: Path, expressions: dict[str, str], *, timeout: float = 180.0) -> PageRun:
    """Load ``path`` with the network emulated offline (and any fetch sent to a dead proxy),
    wait for its load event, evaluate each expression (JSON-serialisable results)."""
    binary = chromium()
    if binary is None:
        raise FileNotFoundError("chromium")
    profile = Path(tempfile.mkdtemp(prefix="hubsnap-chromium-"))
    to_child, from_parent = os.pipe()
    to_parent, from_child = os.pipe()
    argv = [
        binary, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
        f"--user-data-dir={profile}", "--no-first-run", "--no-default-browser-check",
        "--disable-extensions", "--disable-background-networking", "--disable-sync",
        "--disable-component-update", "--disable-default-apps", "--mute-audio",
        "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND",
        "about:blank",
    ]  # fmt: skip
    log = profile / "chromium.log"
    out = os.open(log, os.O_WRONLY | os.O_CREAT, 0o600)
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_DUP2, out, 1),
        (os.POSIX_SPAWN_DUP2, out, 2),
        (os.POSIX_SPAWN_DUP2, to_child, 3),
        (os.POSIX_SPAWN_DUP2, from_child, 4),
    ]
    pid = os.posix_spawn(binary, argv, dict(os.environ), file_actions=actions)
    for fd in (to_child, from_child, out):
        os.close(fd)
    run = PageRun()
    try:
        pipe = _Pipe(from_parent, to_parent, time.monotonic() + timeout)
        target = pipe.call("Target.createTarget", url="about:blank")["targetId"]
        session = pipe.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            pipe.call(f"{domain}.enable", session)
        pipe.call(
            "Network.emulateNetworkConditions", session,
            offline=True, latency=0, downloadThroughput=-1, uploadThroughput=-1,
        )  # fmt: skip
        pipe.events.clear()
        pipe.call("Page.navigate", session, url=path.resolve().as_uri())
        pipe.wait_for("Page.loadEventFired")
        for name, expression in expressions.items():
            result = pipe.call(
                "Runtime.evaluate", session, expression=expression, returnByValue=True
            )
            if "exceptionDetails" in result:
                raise RuntimeError(f"{name}: {result['exceptionDetails']}")
            run.values[name] = result["result"].get("value")
        for event in pipe.events:
            if event.get("sessionId") == session:
                _record(run, event)
        pipe.call("Browser.close")
    finally:
        os.close(from_parent)
        os.close(to_parent)
        _reap(pid)
        shutil.rmtree(profile, ignore_errors=True)
    return run
