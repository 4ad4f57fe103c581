"""pytest plugin: real CNCF distribution registries on loopback, and httpx transport wrappers.

Fixtures:

``registry``
    Session-scoped :class:`RegistryServer` without auth (Debian's ``docker-registry``,
    distribution 2.8.2, which has no referrers API), deletes enabled.
``auth_registry``
    Session-scoped :class:`RegistryServer` with htpasswd (bcrypt) basic auth; its
    ``username`` / ``password`` are the only valid credentials.
``repo_name``
    A fresh repository name per test, so tests sharing a registry never see each other.

Each server gets a free loopback port, its own storage directory and config under a session
temp directory; the fixture waits until ``/v2/`` answers and stops the process by its PID
(terminate, then kill) when the session ends. Transports wrap httpx's real one to count the
bytes a client sends or to cut a response short.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:
    from hubsnap.api.session import Session
    from hubsnap.config import Settings
    from hubsnap.oci.client import TransportOptions

REGISTRY_BINARY = Path("/usr/bin/docker-registry")
_CONFIG = """\
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{port}
  secret: hubsnap-test-secret
{auth}"""
_AUTH = """\
auth:
  htpasswd:
    realm: hubsnap-test
    path: {htpasswd}
"""


@dataclass(frozen=True)
class RegistryServer:
    """A running registry: ``host`` is ``127.0.0.1:PORT``; ``root`` its storage directory."""

    host: str
    root: Path
    pid: int
    username: str | None = None
    password: str | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def blob_data(self, digest: str) -> Path:
        """Where the registry keeps a blob's bytes on disk (to tamper with them in tests)."""
        hexpart = digest.split(":", 1)[1]
        return self.root / "docker/registry/v2/blobs/sha256" / hexpart[:2] / hexpart / "data"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"registry exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(url + "/v2/", timeout=1):
                return
        except urllib.error.HTTPError as e:
            if e.code == 401:  # auth enabled: answering is all we wait for
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"registry at {url} did not answer within 30 s")


@contextlib.contextmanager
def run_registry(
    workdir: Path, *, credentials: tuple[str, str] | None = None
) -> Iterator[RegistryServer]:
    """Start a registry in ``workdir``; stop it (by PID) on exit."""
    assert REGISTRY_BINARY.exists(), "docker-registry is missing: run scripts/setup.sh"
    workdir.mkdir(parents=True, exist_ok=True)
    root = workdir / "storage"
    auth = ""
    if credentials is not None:
        import bcrypt

        user, password = credentials
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()
        htpasswd = workdir / "htpasswd"
        htpasswd.write_text(f"{user}:{hashed}\n")
        auth = _AUTH.format(htpasswd=htpasswd)
    port = _free_port()
    config = workdir / "config.yml"
    config.write_text(_CONFIG.format(root=root, port=port, auth=auth))
    log = workdir / "registry.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(REGISTRY_BINARY), "serve", str(config)], stdout=out, stderr=subprocess.STDOUT
        )
    try:
        _wait_ready(f"http://127.0.0.1:{port}", process, log)
        login, secret = credentials if credentials else (None, None)
        yield RegistryServer(f"127.0.0.1:{port}", root, process.pid, login, secret)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    with run_registry(tmp_path_factory.mktemp("registry")) as server:
        yield server


@pytest.fixture(scope="session")
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    password = "pw-" + uuid.uuid4().hex
    with run_registry(
        tmp_path_factory.mktemp("auth-registry"), credentials=("tester", password)
    ) as server:
        yield server


@pytest.fixture
def repo_name() -> str:
    return f"test/{uuid.uuid4().hex[:12]}"


# -- transports -----------------------------------------------------------------------------


class CountingTransport(httpx.BaseTransport):
    """Passes requests to httpx's network transport and counts request body bytes."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self.bytes_sent = 0
        self.requests: list[tuple[str, str]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((request.method, request.url.path))
        request.read()  # materialises streamed bodies too: the count is what went out
        self.bytes_sent += len(request.content)
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


class _CutStream(httpx.SyncByteStream):
    def __init__(self, inner: httpx.SyncByteStream, limit: int) -> None:
        self._inner = inner
        self._limit = limit

    def __iter__(self) -> Iterator[bytes]:
        sent = 0
        for chunk in self._inner:
            if sent + len(chunk) >= self._limit:
                yield chunk[: self._limit - sent]
                raise httpx.RemoteProtocolError("peer closed connection mid-body")
            sent += len(chunk)
            yield chunk

    def close(self) -> None:
        self._inner.close()


class CuttingTransport(httpx.BaseTransport):
    """Cuts the first ``times`` blob downloads after ``limit`` bytes, as a dropped link would."""

    def __init__(self, limit: int, times: int) -> None:
        self._inner = httpx.HTTPTransport()
        self._limit = limit
        self.remaining = times
        self.ranges: list[str | None] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        is_blob_get = request.method == "GET" and "/blobs/sha256:" in request.url.path
        if is_blob_get:
            self.ranges.append(request.headers.get("Range"))
        long_enough = int(response.headers.get("Content-Length", "0")) > self._limit
        if (
            is_blob_get
            and long_enough
            and self.remaining > 0
            and response.status_code in (200, 206)
        ):
            self.remaining -= 1
            assert isinstance(response.stream, httpx.SyncByteStream)
            return httpx.Response(
                response.status_code,
                headers=response.headers,
                stream=_CutStream(response.stream, self._limit),
                request=request,
            )
        return response

    def close(self) -> None:
        self._inner.close()


# -- artifacts ------------------------------------------------------------------------------


def build_model(store_root: Path, files: dict[str, bytes], *, tag: str | None = None) -> str:
    """Store a ModelPack artifact of ``files`` in the layout at ``store_root``; its digest."""
    from hubsnap.digest import sha256_bytes
    from hubsnap.oci.artifact import LayerFile, ModelSource, build_model_artifact
    from hubsnap.oci.layout import LayoutStore

    store = LayoutStore(store_root).ensure()
    layers = [LayerFile(path, store.put_bytes(data), len(data)) for path, data in files.items()]
    source = ModelSource(
        repo_id="acme/tiny",
        commit="0" * 40,
        source_url="https://huggingface.co/acme/tiny",
        created="2024-01-02T03:04:05Z",
    )
    artifact = build_model_artifact(layers, source)
    store.put_bytes(artifact.config_bytes)
    store.put_manifest(artifact.manifest_bytes, tag=tag)
    assert sha256_bytes(artifact.manifest_bytes) == artifact.digest
    return str(artifact.digest)


# -- credentials ----------------------------------------------------------------------------

_HELPER = """#!{python}
import json, sys
path = {store!r}
try:
    data = json.load(open(path))
except FileNotFoundError:
    data = {{}}
action = sys.argv[1]
if action == "store":
    entry = json.load(sys.stdin)
    data[entry["ServerURL"]] = entry
    json.dump(data, open(path, "w"))
elif action == "get":
    server = sys.stdin.read().strip()
    if server not in data:
        print("credentials not found in native keychain")
        sys.exit(1)
    print(json.dumps({{"Username": data[server]["Username"], "Secret": data[server]["Secret"]}}))
elif action == "erase":
    server = sys.stdin.read().strip()
    if server not in data:
        print("credentials not found in native keychain")
        sys.exit(1)
    del data[server]
    json.dump(data, open(path, "w"))
"""


def fake_credential_helper(bin_dir: Path, store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Put ``docker-credential-test`` on ``PATH``: the helper protocol over a JSON file."""
    import os
    import sys

    bin_dir.mkdir()
    script = bin_dir / "docker-credential-test"
    script.write_text(_HELPER.format(python=sys.executable, store=str(store)))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


# -- sessions -------------------------------------------------------------------------------

_OPEN_SESSIONS: list[Session] = []


def session_for(settings: Settings, transport: TransportOptions | None = None) -> Session:
    """A :class:`hubsnap.api.session.Session` for one verb call, closed when the test ends."""
    from hubsnap.api.session import Session

    session = Session(settings, transport)
    _OPEN_SESSIONS.append(session)
    return session


@pytest.fixture(autouse=True)
def _close_sessions() -> Iterator[None]:
    yield
    while _OPEN_SESSIONS:
        _OPEN_SESSIONS.pop().close()


# -- the CLI, in process --------------------------------------------------------------------


@dataclass(frozen=True)
class CliRun:
    code: int
    out: str
    err: str


@pytest.fixture
def transfer_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated ``HUBSNAP_HOME`` and ``DOCKER_CONFIG`` for one test; returns the home."""
    home = tmp_path / "hubsnap-home"
    monkeypatch.setenv("HUBSNAP_HOME", str(home))
    monkeypatch.delenv("HUBSNAP_STORE", raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    monkeypatch.delenv("HUBSNAP_DEBUG", raising=False)
    return home


def run_cli(
    argv: list[str], capsys: pytest.CaptureFixture[str], *, stdin: str | None = None
) -> CliRun:
    """Run ``hubsnap ARGV`` in this process; returns its exit code, stdout and stderr."""
    import io
    import sys

    from hubsnap.cli import main

    saved = sys.stdin
    if stdin is not None:
        sys.stdin = io.StringIO(stdin)
    try:
        with pytest.raises(SystemExit) as info:
            main(argv)
    finally:
        sys.stdin = saved
    out, err = capsys.readouterr()
    code = info.value.code
    return CliRun(code if isinstance(code, int) else 1, out, err)


def push_model(
    dest: str, files: dict[str, bytes], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> str:
    """Store a model of ``files`` in the layout ``tmp_path/src`` and push it to ``dest`` with
    ``hubsnap push``; returns its digest."""
    digest = build_model(tmp_path / "src", files)
    run = run_cli(["push", f"oci:{tmp_path / 'src'}@{digest}", dest], capsys)
    assert run.code == 0, run.err
    return digest
