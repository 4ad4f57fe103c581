"""pytest plugin: ``hubsnap serve`` and ``hubsnap worker`` as real subprocesses.

``serve_env`` is an isolated environment (its own ``HUBSNAP_HOME``, docker config and Hub
cache) pointed at the Hub emulator; :class:`Served` starts a server on a free loopback port,
waits for ``/healthz``, reads ``/metrics`` and the job table, and stops the process by PID
(``kill -9`` included, for crash tests). Every wait is bounded.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from support.hub import HubEmulator
from support.keys import FIXED_KEY

SECRET = "s3cret-webhook-value"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], Any], *, timeout: float, what: str) -> Any:
    """``check()``'s first truthy value, polled until ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


@dataclass
class ServeEnv:
    root: Path
    env: dict[str, str]
    hub: HubEmulator

    @property
    def home(self) -> Path:
        return Path(self.env["HUBSNAP_HOME"])


@pytest.fixture
def serve_env(hub: HubEmulator, tmp_path: Path) -> ServeEnv:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUBSNAP_"))}
    env |= {
        "HUBSNAP_HOME": str(tmp_path / "home"),
        "DOCKER_CONFIG": str(tmp_path / "docker"),
        "HF_ENDPOINT": hub.url,
        "HF_HOME": str(tmp_path / "hf"),
        "HF_TOKEN": hub.token,
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HUBSNAP_WEBHOOK_SECRET": SECRET,
        "HUBSNAP_KEY": str(FIXED_KEY),
    }
    return ServeEnv(tmp_path, env, hub)


@dataclass
class Served:
    """One ``hubsnap serve`` process; ``log`` collects its stderr (JSON lines)."""

    senv: ServeEnv
    args: list[str]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.senv.root / f"serve-{self.port}.log"

    def start(self) -> Served:
        argv = [sys.executable, "-m", "hubsnap", "serve", "--port", str(self.port), *self.args]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(argv, env=self.senv.env, stdout=log, stderr=log)
        wait_for(self._healthy, timeout=30, what="the server to answer /healthz")
        return self

    def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"serve exited {self.proc.returncode}: {self.log()}")
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def events(self, name: str) -> list[dict[str, Any]]:
        out = []
        for line in self.log().splitlines():
            if line.startswith("{"):
                record = json.loads(line)
                if record.get("event") == name:
                    out.append(record)
        return out

    def post(
        self, body: bytes, *, secret: str | None = SECRET, query: str = ""
    ) -> tuple[int, dict[str, Any]]:
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers["X-Webhook-Secret"] = secret
        request = urllib.request.Request(
            f"{self.url}/webhook{query}", data=body, method="POST", headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def metrics(self) -> dict[str, float]:
        with urllib.request.urlopen(self.url + "/metrics", timeout=10) as response:
            text = response.read().decode()
        values: dict[str, float] = {}
        for line in text.splitlines():
            match = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$", line)
            if match:
                values[match.group(1)] = float(match.group(2))
        return values

    def metric(self, name: str) -> float:
        return self.metrics().get(name, 0.0)

    def jobs(self) -> list[tuple[str, str, str]]:
        """``(id, commit, state)`` of every job the embedded queue holds."""
        path = self.senv.home / "serve" / "jobs.sqlite"
        if not path.exists():
            return []
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as db:
            return [tuple(r) for r in db.execute("SELECT id, commit_sha, state FROM jobs")]

    def wait_reconciled(self, count: int = 1, timeout: float = 60) -> None:
        wait_for(
            lambda: len(self.events("reconcile.done")) >= count,
            timeout=timeout, what=f"{count} reconciler passes",
        )  # fmt: skip

    def wait_done(self, count: int, timeout: float = 90) -> None:
        def done() -> bool:
            failed = self.events("job.failed") + self.events("job.crashed")
            if failed:
                raise AssertionError(f"job failed: {failed}")
            return self.metric('hubsnap_jobs_total{result="ok",stage="job"}') >= count

        wait_for(done, timeout=timeout, what=f"{count} finished jobs")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            return self.proc.wait()


@pytest.fixture
def serve(serve_env: ServeEnv) -> Iterator[Callable[..., Served]]:
    """``serve(*args)`` starts a server; every one started is stopped after the test."""
    started: list[Served] = []

    def start(*args: str, port: int | None = None) -> Served:
        served = Served(serve_env, list(args))
        if port is not None:
            served.port = port
        started.append(served.start())
        return served

    yield start
    for served in started:
        served.stop(signal.SIGKILL)


def most_holders_at_once(
    hold: Callable[[str], AbstractContextManager[object]],
    key: str,
    *,
    threads: int,
    join_timeout: float,
) -> int:
    """How many of ``threads`` workers were ever inside ``hold(key)`` at the same time (each
    stays 20 ms): 1 for a lease that is exclusive, whatever its backend."""
    inside = most = 0
    lock = threading.Lock()

    def work() -> None:
        nonlocal inside, most
        with hold(key):
            with lock:
                inside += 1
                most = max(most, inside)
            time.sleep(0.02)
            with lock:
                inside -= 1

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(join_timeout)
    return most
