"""A Hub that misbehaves on purpose: every answer it can give ends in one line and the documented
exit code, in bounded time and memory, and the token never leaves the Hub's origin.

A tiny scripted server stands in for the hostile Hub (``HostileHub``); a second one stands in
for another origin and records what reaches it. The relay and endpoint tests use the emulator.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from support.hub import BASE, COMMITS, HfEnv
from test_snapshot_cli import Run, home, run

__all__ = ["home", "run"]  # fixtures shared with test_snapshot_cli

TOKEN = "hf_hostile_test_token"
Script = Callable[["_Handler"], None]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.seen.append((self.path, self.headers.get("Authorization")))
        self.server.script(self)

    def answer(self, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        with contextlib.suppress(OSError):
            self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[tuple[str, str | None]] = []
        self.script: Script = lambda h: h.answer(b"[]")
        self.stop = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@contextlib.contextmanager
def _serving() -> Iterator[_Server]:
    server = _Server()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def hostile() -> Iterator[_Server]:
    with _serving() as server:
        yield server


@pytest.fixture
def elsewhere() -> Iterator[_Server]:
    with _serving() as server:
        yield server


def _env(tmp_path: Path, endpoint: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUBSNAP_"))}
    env |= {
        "HF_ENDPOINT": endpoint, "HF_HOME": str(tmp_path / "hf-home"),
        "HUBSNAP_HOME": str(tmp_path / "home"), "HF_TOKEN": TOKEN,
    }  # fmt: skip
    return env | extra


def _hubsnap(
    tmp_path: Path, endpoint: str, *args: str, timeout: float = 120, **extra: str
) -> subprocess.CompletedProcess[str]:
    return _run_with(tmp_path, _env(tmp_path, endpoint, **extra), *args, timeout=timeout)


def _run_with(
    tmp_path: Path, env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hubsnap", *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def _one_line(done: subprocess.CompletedProcess[str], code: int, *fragments: str) -> str:
    """The run failed with ``code``, an ``error:`` line and at most a hint; no traceback."""
    lines = done.stderr.splitlines()
    assert done.returncode == code, done.stderr
    assert 1 <= len(lines) <= 2 and lines[0].startswith("error: "), done.stderr
    assert all(line.startswith(("error: ", "hint: ")) for line in lines), done.stderr
    assert "Traceback" not in done.stderr and TOKEN not in done.stderr + done.stdout
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def _model(n: int, date: str = "2025-01-01T00:00:00.000Z") -> dict[str, object]:
    return {"id": f"org/m{n}", "lastModified": date, "downloads": n, "likes": 0}


# -- pagination -------------------------------------------------------------------------------


def test_a_next_link_to_itself_is_a_loop_refused(hostile: _Server, tmp_path: Path) -> None:
    def script(h: _Handler) -> None:
        h.answer(json.dumps([_model(1)]).encode(), {"Link": f'<{h.path}>; rel="next"'})

    hostile.script = script
    done = _hubsnap(tmp_path, hostile.url, "discover", "--limit", "50")
    _one_line(done, 5, "leads back to a page")
    assert len(hostile.seen) == 1


def test_a_next_link_cycle_across_pages_is_refused(hostile: _Server, tmp_path: Path) -> None:
    def script(h: _Handler) -> None:
        other = "/api/models?page=b" if "page=b" not in h.path else "/api/models?page=a"
        h.answer(
            json.dumps([_model(len(hostile.seen))]).encode(), {"Link": f'<{other}>; rel="next"'}
        )

    hostile.script = script
    done = _hubsnap(tmp_path, hostile.url, "discover", "--limit", "50")
    _one_line(done, 5, "leads back to a page")
    assert len(hostile.seen) == 3  # first page, page b, page a; page b again is refused


def test_an_empty_page_ends_the_listing(hostile: _Server, tmp_path: Path) -> None:
    hostile.script = lambda h: h.answer(b"[]", {"Link": f'<{h.path}&more=1>; rel="next"'})
    done = _hubsnap(tmp_path, hostile.url, "discover", "--json")
    assert (done.returncode, json.loads(done.stdout)["models"]) == (0, []), done.stderr
    assert len(hostile.seen) == 1


def test_the_token_never_follows_a_next_link_to_another_origin(
    hostile: _Server, elsewhere: _Server, tmp_path: Path
) -> None:
    hostile.script = lambda h: h.answer(
        json.dumps([_model(1)]).encode(), {"Link": f'<{elsewhere.url}/api/models?p=2>; rel="next"'}
    )
    elsewhere.script = lambda h: h.answer(json.dumps([_model(2)]).encode())
    done = _hubsnap(tmp_path, hostile.url, "discover", "--json", "--limit", "5")
    assert done.returncode == 0, done.stderr
    assert [m["model_id"] for m in json.loads(done.stdout)["models"]] == ["org/m1", "org/m2"]
    assert hostile.seen[0][1] == f"Bearer {TOKEN}"  # the Hub's own origin gets it
    assert elsewhere.seen == [("/api/models?p=2", None)]


def test_a_redirect_to_another_origin_drops_the_token(
    hostile: _Server, elsewhere: _Server, tmp_path: Path
) -> None:
    def script(h: _Handler) -> None:
        h.send_response(302)
        h.send_header("Location", f"{elsewhere.url}/api/models")
        h.send_header("Content-Length", "0")
        h.end_headers()

    hostile.script = script
    elsewhere.script = lambda h: h.answer(json.dumps([_model(3)]).encode())
    done = _hubsnap(tmp_path, hostile.url, "discover", "--json")
    assert done.returncode == 0, done.stderr
    assert [m["model_id"] for m in json.loads(done.stdout)["models"]] == ["org/m3"]
    assert [auth for _, auth in elsewhere.seen] == [None]


# -- bodies -----------------------------------------------------------------------------------


def test_an_endless_json_body_is_cut_off_while_read(hostile: _Server, tmp_path: Path) -> None:
    def script(h: _Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.end_headers()  # no length: the body runs until the connection closes
        with contextlib.suppress(OSError):
            h.wfile.write(b"[")
            chunk = b'{"id": "org/m", "lastModified": "2025-01-01T00:00:00Z"},' * 1000
            while not hostile.stop.is_set():
                h.wfile.write(chunk)
        h.close_connection = True

    hostile.script = script
    done = _hubsnap(tmp_path, hostile.url, "discover")
    _one_line(done, 5, "larger than")


def test_deeply_nested_json_is_refused_cleanly(hostile: _Server, tmp_path: Path) -> None:
    hostile.script = lambda h: h.answer(b"[" * 100_000 + b"]" * 100_000)
    done = _hubsnap(tmp_path, hostile.url, "discover")
    _one_line(done, 5, "nested too deeply")
    done = _hubsnap(tmp_path, hostile.url, "snapshot", "org/model")
    _one_line(done, 5, "nested too deeply")


def test_a_trickled_body_fails_at_the_timeout(hostile: _Server, tmp_path: Path) -> None:
    def script(h: _Handler) -> None:
        body = json.dumps([_model(1)] * 50).encode()
        h.send_response(200)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        with contextlib.suppress(OSError):
            for byte in body:  # one byte every 0.2 s: each read is quick, the whole is not
                if hostile.stop.wait(0.2):
                    return
                h.wfile.write(bytes([byte]))
                h.wfile.flush()

    hostile.script = script
    started = time.monotonic()
    done = _hubsnap(tmp_path, hostile.url, "discover", "--timeout", "2s")
    _one_line(done, 5, "answer: not done within 2s")
    assert time.monotonic() - started < 60  # does not hang: the body alone takes ~10 minutes


def test_odd_dates_and_entries_without_dates_are_tolerated(
    hostile: _Server, tmp_path: Path
) -> None:
    entries = [
        _model(1, "2025-03-01T00:00:00Z"),
        _model(2, "0001-01-01T00:00:00+01:00"),  # before year 1 in UTC
        {"id": "org/m3", "downloads": 1},
        _model(4, "not a date"),
        _model(5, "2024-01-01T00:00:00Z"),
    ]
    hostile.script = lambda h: h.answer(json.dumps(entries).encode())
    done = _hubsnap(tmp_path, hostile.url, "discover", "--json")
    assert done.returncode == 0, done.stderr
    shown = {m["model_id"]: m["last_modified"] for m in json.loads(done.stdout)["models"]}
    assert shown == {
        "org/m1": "2025-03-01T00:00:00Z", "org/m2": None, "org/m3": None, "org/m4": None,
        "org/m5": "2024-01-01T00:00:00Z",
    }  # fmt: skip
    for args in (("--since", "2024-06-01T00:00:00Z"), ("--incremental",), ("--incremental",)):
        done = _hubsnap(tmp_path, hostile.url, "discover", "--json", *args)
        assert done.returncode == 0, done.stderr
    # The first incremental run remembered 2025-03-01; nothing is newer on the second.
    assert json.loads(done.stdout)["models"] == []


def test_an_early_year_with_an_offset_in_since_is_a_usage_error(
    hostile: _Server, tmp_path: Path
) -> None:
    done = _hubsnap(tmp_path, hostile.url, "discover", "--since", "0001-01-01T00:00:00+01:00")
    _one_line(done, 2, "invalid timestamp")
    assert hostile.seen == []


# -- the discover cache -----------------------------------------------------------------------


def test_a_corrupt_discover_cache_is_rebuilt(hostile: _Server, tmp_path: Path) -> None:
    hostile.script = lambda h: h.answer(json.dumps([_model(1)]).encode(), {"ETag": '"e1"'})
    cache = tmp_path / "home" / "discover.sqlite"
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"this is not a database" * 100)
    done = _hubsnap(tmp_path, hostile.url, "discover", "--json")
    assert done.returncode == 0, done.stderr
    assert [m["model_id"] for m in json.loads(done.stdout)["models"]] == ["org/m1"]
    with contextlib.closing(sqlite3.connect(cache)) as db:
        assert db.execute("SELECT count(*) FROM pages").fetchone() == (1,)


def test_a_discover_cache_that_cannot_be_a_file_is_a_usage_error(
    hostile: _Server, tmp_path: Path
) -> None:
    (tmp_path / "home" / "discover.sqlite").mkdir(parents=True)
    done = _hubsnap(tmp_path, hostile.url, "discover")
    _one_line(done, 2, "cannot use the discover cache")


# -- the environment --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HF_ENDPOINT", "http://["),
        ("HF_ENDPOINT", "ftp://hub.example"),
        ("HF_HUB_DOWNLOAD_TIMEOUT", "abc"),
        ("HF_HUB_ETAG_TIMEOUT", "abc"),
    ],
)
def test_malformed_hf_variables_are_one_line_and_exit_2(
    hostile: _Server, tmp_path: Path, name: str, value: str
) -> None:
    env = _env(tmp_path, hostile.url) | {name: value}
    # Commands that do not talk to the Hub do not read them at all.
    version = _run_with(tmp_path, env, "version")
    assert (version.returncode, version.stdout.strip(), version.stderr) == (0, "0.1.0", "")
    for command in (["discover"], ["snapshot", "org/model"]):
        done = _run_with(tmp_path, env, *command)
        line = _one_line(done, 2)
        assert name in line or "HF_" in done.stderr
    assert hostile.seen == []


@pytest.mark.parametrize("value", ["ftp://hub.example", "https://[", "https://u:p@hub.example"])
def test_a_malformed_hub_url_is_one_line_and_exit_2(
    hostile: _Server, tmp_path: Path, value: str
) -> None:
    done = _hubsnap(tmp_path, hostile.url, "discover", HUBSNAP_HUB_URL=value)
    line = _one_line(done, 2, "HUBSNAP_HUB_URL is not a valid Hub URL")
    assert "u:p" not in line and hostile.seen == []


@pytest.mark.parametrize("padding", [" ", "\t", "\r", "\n", "\r\n"])
def test_a_token_with_surrounding_whitespace_is_stripped(
    hostile: _Server, tmp_path: Path, padding: str
) -> None:
    hostile.script = lambda h: h.answer(json.dumps([_model(1)]).encode())
    done = _hubsnap(
        tmp_path, hostile.url, "discover", HF_TOKEN=f"{padding}{TOKEN}{padding}", HUBSNAP_DEBUG="1"
    )
    assert done.returncode == 0, done.stderr
    assert hostile.seen[0][1] == f"Bearer {TOKEN}"


@pytest.mark.parametrize("token", [f"{TOKEN[:5]}\n{TOKEN[5:]}", f"{TOKEN} x", f"{TOKEN}\x01"])
def test_a_token_that_cannot_be_a_header_is_refused_unprinted(
    hostile: _Server, tmp_path: Path, token: str
) -> None:
    done = _hubsnap(tmp_path, hostile.url, "discover", HF_TOKEN=token)
    _one_line(done, 2, "HF_TOKEN contains whitespace")
    # With tracebacks on, the traceback does not show it either.
    done = _hubsnap(tmp_path, hostile.url, "discover", HF_TOKEN=token, HUBSNAP_DEBUG="1")
    assert done.returncode == 2 and "HF_TOKEN contains whitespace" in done.stderr
    assert TOKEN[5:] not in done.stderr + done.stdout and TOKEN[:5] not in done.stderr
    assert hostile.seen == []


def test_the_token_saved_by_hf_auth_login_is_used(hostile: _Server, tmp_path: Path) -> None:
    hostile.script = lambda h: h.answer(json.dumps([_model(1)]).encode())
    (tmp_path / "hf-home").mkdir()
    (tmp_path / "hf-home" / "token").write_text(f"{TOKEN}\n")
    env = _env(tmp_path, hostile.url)
    del env["HF_TOKEN"]
    done = subprocess.run(
        [sys.executable, "-m", "hubsnap", "discover"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert hostile.seen[0][1] == f"Bearer {TOKEN}"


def test_offline_mode_is_one_clear_line(hostile: _Server, tmp_path: Path) -> None:
    for command in (["discover"], ["snapshot", "org/model"]):
        done = _hubsnap(tmp_path, hostile.url, *command, HF_HUB_OFFLINE="1")
        _one_line(done, 2, "HF_HUB_OFFLINE")
    assert hostile.seen == []


# -- endpoint-independent artifacts ------------------------------------------------------------


@contextlib.contextmanager
def _relay(target: str) -> Iterator[str]:
    """A TCP relay to ``target`` (``http://HOST:PORT``) on a port of its own."""
    host, port = target.removeprefix("http://").split(":")
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def pipe(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.create_connection((host, int(port)))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=pipe, args=(a, b), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def test_the_same_commit_through_a_relay_is_the_same_artifact(
    home: Path, run: Run, hf_env: HfEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    commit = COMMITS[BASE]["main"]
    small = ("--include", "*.json", "--include", "*.md")
    code, direct, err = run("snapshot", f"{BASE}@{commit}", *small, "-o", "direct.yaml")
    assert code == 0, err
    with _relay(hf_env.endpoint) as relay:
        monkeypatch.setenv("HF_ENDPOINT", relay)
        monkeypatch.setenv("HUBSNAP_HOME", str(home.parent / "other-home"))
        code, relayed, err = run("snapshot", f"{BASE}@{commit}", *small, "-o", "relay.yaml")
    assert code == 0, err
    assert direct.rsplit("@", 1)[1] == relayed.rsplit("@", 1)[1]
    first = yaml.safe_load(Path("direct.yaml").read_text())
    second = yaml.safe_load(Path("relay.yaml").read_text())
    assert first["source"] == second["source"] == f"https://huggingface.co/{BASE}"
    assert (first["endpoint"], second["endpoint"]) == (hf_env.endpoint, relay)
    manifest = json.loads(
        (home.parent / "other-home" / "store" / "blobs" / "sha256")
        .joinpath(relayed.strip().rsplit(":", 1)[1])
        .read_bytes()
    )
    assert manifest["annotations"]["org.opencontainers.image.source"] == first["source"]
    # A private Hub is named by HUBSNAP_HUB_URL instead.
    monkeypatch.setenv("HF_ENDPOINT", hf_env.endpoint)
    monkeypatch.setenv("HUBSNAP_HUB_URL", "https://hub.example.org/")
    code, private, err = run("snapshot", f"{BASE}@{commit}", *small, "-o", "private.yaml")
    assert code == 0, err
    assert yaml.safe_load(Path("private.yaml").read_text())["source"] == (
        f"https://hub.example.org/{BASE}"
    )
    assert private.rsplit("@", 1)[1] != direct.rsplit("@", 1)[1]
