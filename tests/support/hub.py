"""pytest plugin for the local Hub emulator, and a small typed client for its control API.

Fixtures: ``hub_emulator`` (session: one emulator subprocess, fixtures cached across runs
in ``$HUBSNAP_TEST_HUB_DATA`` or ``~/.cache/hubsnap/test-hub-emulator``), ``hub`` (the same,
reset before and after the test) and ``hf_env`` (``huggingface_hub`` pointed at the
emulator, with no token and a throw-away cache). Tests using them are marked ``hub``.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "hub_emulator.py"
TOKEN = "hf_emulator_token"
OUTSIDER_TOKEN = "hf_emulator_outsider"  # a valid user who has not accepted gated terms

BASE = "sentence-transformers/all-MiniLM-L6-v2"
FINETUNED = "hubsnap-fixtures/minilm-finetuned"
QUANTIZED = "hubsnap-fixtures/minilm-finetuned-int8"
SENTIMENT = "hubsnap-fixtures/minilm-sentiment"
PRIVATE = "hubsnap-fixtures/minilm-private"
GATED = "hubsnap-fixtures/minilm-gated"
DISABLED = "hubsnap-fixtures/minilm-disabled"
BULK_AUTHOR = "hubsnap-bulk"  # 1,100 listing-only models: more than one listing page
SENTIMENT_PROBES = (
    "I absolutely loved this film, it was wonderful.",
    "The service was terrible and the food was cold.",
    "It was fine, nothing special.",
    "What a fantastic experience, highly recommended!",
    "I will never buy this product again.",
    "The package arrived on Tuesday.",
    "This is the best day of my life.",
    "The plot was boring and far too long.",
)
# Golden commit shas (real git commit ids): the same on every machine. A change here means
# the fixture recipe changed, and every reproducibility expectation downstream moves too.
COMMITS: dict[str, dict[str, str]] = {
    BASE: {
        "initial": "e10683b2d6324e080246e3612829ccd185fbc0b3",
        "v1.0": "e22af0db23c52a839febea7db0e92f957ac7e214",  # tag; first full upload
        "main": "994b508f7e41990b3e5ab1caff0b37767022e927",  # README update
        "v2": "57e91307d94f25f56bf5986caa217949d3bf5676",  # branch; tokens/config/weights
        "refs/pr/1": "b04cb04236a75041b7d40de13b265442ac101738",
    },
    FINETUNED: {"main": "b0d1619204952f276485627c44668052796f2575"},
    QUANTIZED: {"main": "b732f539e853cb1b47a70d6b9aaf7e3cbcfb0cc9"},
    SENTIMENT: {
        "v1": "2a3dd535b0d6c0067430dac50605737d70ece3c4",
        "v2": "eb6e0c1a4f24ecf45fdae434ab38a3fae3c01f57",
        "main": "eb6e0c1a4f24ecf45fdae434ab38a3fae3c01f57",
    },
    PRIVATE: {"main": "406c393e3184039ee88cce2c73503ffae41b2312"},
    GATED: {"main": "3170799e6a49bb6d11b043fba811c3659111553d"},
    DISABLED: {"main": "904b60369b6bea7820adb843ae816c3b756cba18"},
}
START_TIMEOUT = 600.0  # the first start builds ~500 MB of fixtures


@dataclass(frozen=True)
class CopyFrom:
    """File content taken from another repo/revision, by reference (no bytes sent)."""

    repo_id: str
    path: str
    revision: str = "main"


FileChange = bytes | str | CopyFrom | None  # None deletes the path


class EmulatorError(RuntimeError):
    """The control API refused a request."""


class HubEmulator:
    """Client for a running emulator: its URL and token, and the ``/_emulator/`` control API."""

    def __init__(self, url: str, token: str = TOKEN) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.outsider_token = OUTSIDER_TOKEN

    def git_url(self, repo_id: str, token: str | None = None, *, suffix: str = "") -> str:
        """What ``git clone`` takes for ``repo_id`` (``suffix=".git"`` works too).

        With ``token`` the URL carries it as HTTP basic credentials (any user name, the
        token as password), as one clones a private or gated repository from the Hub.
        """
        scheme, rest = self.url.split("://", 1)
        credentials = f"hubsnap:{token}@" if token else ""
        return f"{scheme}://{credentials}{rest}/{repo_id}{suffix}"

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.url}/_emulator/{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise EmulatorError(f"{method} {path}: {exc.code} {exc.read().decode()}") from None

    def reset(self) -> None:
        """Undo published commits, ref and flag changes; clear faults, counters, webhooks."""
        self._call("POST", "reset")

    def publish_commit(
        self,
        repo_id: str,
        files: Mapping[str, FileChange],
        *,
        branch: str = "main",
        title: str = "Upload files",
        message: str = "",
        author: str | None = None,
        date: str | None = None,
        parent_revision: str | None = None,
    ) -> str:
        """Commit on ``branch`` (created from ``parent_revision`` if new); returns the sha.

        Without ``date`` the commit is dated one hour after its parent, so shas of
        published commits are reproducible too.
        """
        items: list[dict[str, Any]] = []
        for path, change in files.items():
            if change is None:
                items.append({"path": path, "delete": True})
            elif isinstance(change, CopyFrom):
                items.append(
                    {
                        "path": path,
                        "copy_from": {
                            "repo_id": change.repo_id,
                            "revision": change.revision,
                            "path": change.path,
                        },
                    }
                )
            else:
                raw = change.encode() if isinstance(change, str) else change
                items.append({"path": path, "content_b64": base64.b64encode(raw).decode()})
        spec: dict[str, Any] = {"files": items, "title": title, "message": message}
        spec |= {
            k: v
            for k, v in (("author", author), ("date", date), ("parent_revision", parent_revision))
            if v is not None
        }
        result = self._call("POST", f"repos/{repo_id}/commits/{quote(branch, safe='')}", spec)
        return str(result["commitOid"])

    def add_fault(
        self,
        pattern: str,
        kind: str = "503",
        *,
        count: int = 1,
        method: str | None = None,
        retry_after: int | None = None,
        truncate_at: int | None = None,
        delay: float | None = None,
        rate: int | None = None,
    ) -> int:
        """Arm a fault on request paths matching the regex ``pattern``; returns its id.

        ``kind``: an HTTP status (``"429"``, ``"500"``, ``"503"``...), ``"truncate"`` (full
        Content-Length announced, fewer bytes sent, connection closed), ``"corrupt"`` (right
        size, flipped bytes), ``"delay"`` (``delay`` seconds before answering), ``"throttle"``
        (the body at ``rate`` bytes a second) or ``"ignore_range"`` (a ``Range`` request
        answered ``200`` with the whole body). Body faults fire only on GET responses that
        have a body (not on HEAD or redirects); ``ignore_range`` only on requests with a
        ``Range``.
        """
        spec: dict[str, Any] = {"pattern": pattern, "kind": kind, "count": count}
        spec |= {
            k: v
            for k, v in (
                ("method", method),
                ("retry_after", retry_after),
                ("truncate_at", truncate_at),
                ("delay", delay),
                ("rate", rate),
            )
            if v is not None
        }
        return int(self._call("POST", "faults", spec)["id"])

    def faults(self) -> list[dict[str, Any]]:
        """Armed faults with their ``remaining`` shots."""
        return list(self._call("GET", "faults"))

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def request_count(self, path_substring: str, method: str | None = "GET") -> int:
        """Hub/CDN requests whose path contains ``path_substring`` (``method=None``: any)."""
        return self.request_stats(path_substring, method)["count"]

    def request_stats(self, path_substring: str, method: str | None = "GET") -> dict[str, int]:
        """``count``, ``ranged`` (requests with a ``Range`` header) and ``bytes`` (body bytes
        sent) of the Hub/CDN requests whose path contains ``path_substring``."""
        query = {"contains": path_substring} | ({"method": method} if method else {})
        answer = self._call("GET", f"requests?{urlencode(query)}")
        return {name: int(answer[name]) for name in ("count", "ranged", "bytes")}

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Return once no Hub/CDN request is being answered (a body to a client that died
        is still being written until the emulator notices); its bytes are counted by then."""
        deadline = time.monotonic() + timeout
        while self._call("GET", "requests")["active"]:
            if time.monotonic() > deadline:
                raise EmulatorError(f"requests still active after {timeout} s")
            time.sleep(0.05)

    def reset_request_counts(self) -> None:
        self._call("DELETE", "requests")

    def create_repo(
        self,
        repo_id: str,
        *,
        private: bool = False,
        gated: str | bool = False,
        date: str | None = None,
    ) -> dict[str, Any]:
        spec: dict[str, Any] = {"repo_id": repo_id, "private": private, "gated": gated}
        if date:
            spec["date"] = date
        return dict(self._call("POST", "repos", spec))

    def set_ref(self, repo_id: str, name: str, target: str, kind: str = "tags") -> None:
        """Point tag (``kind="tags"``) or branch (``"heads"``) ``name`` at revision ``target``."""
        self._call("PUT", f"repos/{repo_id}/refs/{kind}/{quote(name, safe='')}", {"target": target})

    def delete_ref(self, repo_id: str, name: str, kind: str = "tags") -> None:
        self._call("DELETE", f"repos/{repo_id}/refs/{kind}/{quote(name, safe='')}")

    def set_repo_flags(self, repo_id: str, **flags: bool | str) -> None:
        """Change ``private``, ``gated`` (``False``/``"auto"``/``"manual"``) or ``disabled``."""
        self._call("POST", f"repos/{repo_id}/settings", flags)

    def repo_state(self, repo_id: str) -> dict[str, Any]:
        """Branches, tags, pull requests and ``main``'s history of a repository."""
        return dict(self._call("GET", f"repos/{repo_id}"))

    def add_webhook(self, url: str, secret: str = "") -> None:
        """Deliver Hub ``repo.content`` webhooks (v3 payload) to ``url`` on each publish."""
        self._call("POST", "webhooks", {"url": url, "secret": secret})


@dataclass(frozen=True)
class HfEnv:
    """``huggingface_hub`` settings a test runs under (see the ``hf_env`` fixture)."""

    hub: HubEmulator
    endpoint: str
    home: Path
    cache: Path


def isolated_git_env(home: Path) -> dict[str, str]:
    """An environment for git + git-lfs that reads and writes nothing of the user's.

    ``home`` becomes ``HOME`` with its own global config, where git-lfs's filters are
    installed; prompts are off, so a refused credential fails instead of waiting.
    """
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "SSH_ASKPASS"))}
    env |= {
        "HOME": str(home),
        "GIT_CONFIG_GLOBAL": str(home / ".gitconfig"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_AUTHOR_NAME": "hubsnap tests",
        "GIT_AUTHOR_EMAIL": "tests@hubsnap.invalid",
        "GIT_COMMITTER_NAME": "hubsnap tests",
        "GIT_COMMITTER_EMAIL": "tests@hubsnap.invalid",
    }
    subprocess.run(
        ["git", "lfs", "install", "--skip-repo"], env=env, check=True, cwd=home, capture_output=True
    )
    return env


def _data_dir() -> Path:
    configured = os.environ.get("HUBSNAP_TEST_HUB_DATA")
    return Path(configured) if configured else Path.home() / ".cache/hubsnap/test-hub-emulator"


def _await_ready(proc: subprocess.Popen[str]) -> str:
    line: list[str] = []

    def read() -> None:
        line.append(proc.stdout.readline() if proc.stdout else "")

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(START_TIMEOUT)
    text = line[0].strip() if line else ""
    if not text.startswith("ready "):
        proc.kill()
        raise RuntimeError(f"the Hub emulator did not start: {text!r}")
    return text.split(" ", 1)[1]


@pytest.fixture(scope="session")
def hub_emulator() -> Iterator[HubEmulator]:
    """One emulator process for the whole session."""
    proc = subprocess.Popen(
        [
            sys.executable,
            str(SCRIPT),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--data",
            str(_data_dir()),
            "--token",
            TOKEN,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield HubEmulator(_await_ready(proc), TOKEN)
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        if proc.stdout:
            proc.stdout.close()


@pytest.fixture
def hub(hub_emulator: HubEmulator) -> Iterator[HubEmulator]:
    """The emulator, reset to its built fixtures before and after the test."""
    hub_emulator.reset()
    yield hub_emulator
    hub_emulator.reset()


@pytest.fixture
def hf_env(hub: HubEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> HfEnv:
    """Point ``huggingface_hub`` at the emulator, anonymously, with a per-test cache."""
    home = tmp_path / "hf-home"
    cache = home / "hub"
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    env = {
        "HF_ENDPOINT": hub.url,
        "HF_HOME": str(home),
        "HF_HUB_CACHE": str(cache),
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # huggingface_hub reads its settings once, at import: patch the frozen copies as well.
    from huggingface_hub import constants, hf_api

    frozen: dict[str, object] = {
        "ENDPOINT": hub.url,
        "HUGGINGFACE_CO_URL_TEMPLATE": hub.url + "/{repo_id}/resolve/{revision}/{filename}",
        "HF_HOME": str(home),
        "HF_HUB_CACHE": str(cache),
        "HF_TOKEN_PATH": str(home / "token"),
        "HF_STORED_TOKENS_PATH": str(home / "stored_tokens"),
        "HF_HUB_DISABLE_TELEMETRY": True,
        "HF_HUB_OFFLINE": False,
    }
    for attr, patched in frozen.items():
        monkeypatch.setattr(constants, attr, patched)
    monkeypatch.setattr(hf_api.api, "endpoint", hub.url)
    return HfEnv(hub=hub, endpoint=hub.url, home=home, cache=cache)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that use the emulator carry the ``hub`` marker, so ``-m "not hub"`` skips them."""
    for item in items:
        if {"hub", "hub_emulator", "hf_env"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.hub)
