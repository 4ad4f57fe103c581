"""Start and stop Debian's ``docker-registry`` (CNCF distribution) on a free loopback port.

    with run_registry(Path("/tmp/reg")) as server:
        print(server.host)  # 127.0.0.1:PORT, plain HTTP, no auth

Used by the scripts (demo, benchmark). The registry gets its own storage directory and config
under ``workdir``, deletes enabled, access log off; :func:`run_registry` waits until ``/v2/``
answers and stops the process by its PID (terminate, then kill) on exit.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RegistryServer", "find_registry_binary", "free_port", "run_registry"]

_DEBIAN_BINARY = Path("/usr/bin/docker-registry")


@dataclass(frozen=True)
class RegistryServer:
    """A running registry: ``host`` is ``127.0.0.1:PORT``; ``root`` its storage directory."""

    host: str
    root: Path
    pid: int

    @property
    def url(self) -> str:
        return f"http://{self.host}"


def find_registry_binary() -> Path | None:
    found = shutil.which("docker-registry")
    if found:
        return Path(found)
    return _DEBIAN_BINARY if _DEBIAN_BINARY.exists() else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"registry exited: {log.read_text(errors='replace')[-2000:]}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url + "/v2/", timeout=1):
            return
        time.sleep(0.05)
    raise RuntimeError(f"registry at {url} did not answer within 30 s")


@contextlib.contextmanager
def run_registry(workdir: Path) -> Iterator[RegistryServer]:
    """Start a registry keeping its data in ``workdir``; stop it (by PID) on exit."""
    binary = find_registry_binary()
    if binary is None:
        raise RuntimeError("docker-registry is not installed: run scripts/setup.sh")
    workdir.mkdir(parents=True, exist_ok=True)
    root = workdir / "storage"
    port = free_port()
    config = {
        "version": 0.1,
        "log": {"level": "error", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(root)},
            "delete": {"enabled": True},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": {"addr": f"127.0.0.1:{port}"},
    }
    config_path = workdir / "registry.yml"
    config_path.write_text(json.dumps(config))  # JSON is YAML, which is what the registry reads
    log = workdir / "registry.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(binary), "serve", str(config_path)], stdout=out, stderr=subprocess.STDOUT
        )
    try:
        _wait_ready(f"http://127.0.0.1:{port}", process, log)
        yield RegistryServer(f"127.0.0.1:{port}", root, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
