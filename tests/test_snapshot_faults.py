"""``hubsnap snapshot`` when the Hub misbehaves: retries, corruption, truncation, timeouts,
hostile file names, and tokens that must never be printed."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hubsnap.oci.layout import LayoutStore
from hubsnap.retry import RetryPolicy
from support.hub import BASE, COMMITS, SENTIMENT, HfEnv
from test_snapshot_cli import Run, assert_nothing_left, home, load_document, run, store_digest

__all__ = ["home", "run"]  # fixtures shared with test_snapshot_cli

LFS_FILE = r"^/_cdn/lfs/.*/model\.safetensors$"
GIT_FILE = r"/resolve/[0-9a-f]{40}/config\.json$"


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the backoff instead of sleeping: the policy's waits become observable."""
    waited: list[float] = []
    monkeypatch.setattr(
        "hubsnap.hub.RetryPolicy", functools.partial(RetryPolicy, sleep=waited.append)
    )
    return waited


def test_429_is_retried_after_the_servers_delay(
    home: Path, run: Run, hf_env: HfEnv, sleeps: list[float]
) -> None:
    hf_env.hub.add_fault("/revision/", "429", count=2, retry_after=3)
    code, _, err = run("snapshot", BASE)
    assert code == 0, err
    assert sleeps == [3.0, 3.0]
    assert hf_env.hub.request_count("/revision/") == 3


def test_5xx_until_retries_run_out_is_a_remote_failure(
    home: Path, run: Run, hf_env: HfEnv, sleeps: list[float]
) -> None:
    hf_env.hub.add_fault("/revision/", "503", count=100)
    code, out, err = run("snapshot", BASE)
    assert (code, out) == (5, "")
    assert err.splitlines() == [f"error: {BASE}@main: the Hub answered 503 after 5 attempts"]
    assert len(sleeps) == 4
    assert hf_env.hub.request_count("/revision/") == 5
    assert_nothing_left(home, Path.cwd())


def test_5xx_on_a_file_is_retried(home: Path, run: Run, hf_env: HfEnv, sleeps: list[float]) -> None:
    hf_env.hub.add_fault(GIT_FILE, "500", count=2)
    code, _, err = run("snapshot", BASE)
    assert code == 0, err
    assert len(sleeps) == 2


@pytest.mark.parametrize(
    ("pattern", "words"),
    [(LFS_FILE, "sha256"), (GIT_FILE, "git blob id")],
    ids=["lfs", "git"],
)
def test_corrupt_bytes_are_refused_and_nothing_is_kept(
    home: Path, run: Run, hf_env: HfEnv, pattern: str, words: str
) -> None:
    hf_env.hub.add_fault(pattern, "corrupt")
    code, out, err = run("snapshot", BASE, "-o", "snapshot.yaml")
    assert (code, out) == (6, "")
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0]
    assert "does not match the Hub's" in lines[0]
    assert_nothing_left(home, Path.cwd())


def test_truncated_body_is_resumed_with_a_range_request(
    home: Path, run: Run, hf_env: HfEnv, sleeps: list[float]
) -> None:
    hf_env.hub.add_fault(LFS_FILE, "truncate", truncate_at=100_000)
    code, out, err = run("snapshot", BASE)
    assert code == 0, err
    assert len(sleeps) == 1
    assert hf_env.hub.request_count("/_cdn/lfs/") == 2
    # The resumed download gives the very artifact of an undisturbed one.
    tag = f"{BASE.lower()}:{COMMITS[BASE]['main']}"
    assert LayoutStore(home / "store").tags()[tag] == store_digest(out)


def test_body_that_keeps_breaking_off_fails_cleanly(
    home: Path, run: Run, hf_env: HfEnv, sleeps: list[float]
) -> None:
    hf_env.hub.add_fault(LFS_FILE, "truncate", count=100, truncate_at=1000)
    code, out, err = run("snapshot", BASE)
    assert (code, out) == (5, "")
    lines = err.splitlines()
    assert lines[0].startswith(f"error: {BASE}/model.safetensors: download broke off 5 times")
    assert lines[1].startswith("hint: ")
    assert_nothing_left(home, Path.cwd())


def test_timeout_is_respected(home: Path, run: Run, hf_env: HfEnv, sleeps: list[float]) -> None:
    hf_env.hub.add_fault("/revision/", "delay", count=100, delay=3.0)
    code, out, err = run("snapshot", BASE, "--timeout", "300ms")
    assert (code, out) == (5, "")
    assert err.splitlines()[0] == (
        f"error: {BASE}@main: no answer from {hf_env.endpoint} within 0.3s"
    )
    assert_nothing_left(home, Path.cwd())


def test_a_slow_answer_once_is_retried(
    home: Path, run: Run, hf_env: HfEnv, sleeps: list[float]
) -> None:
    hf_env.hub.add_fault("/revision/", "delay", count=1, delay=2.0)
    code, _, err = run("snapshot", BASE, "--timeout", "500ms")
    assert code == 0, err
    assert len(sleeps) == 1


@pytest.mark.parametrize("name", ["../evil.txt", "nested/../../evil.txt", "dir\\evil.txt"])
def test_file_names_that_escape_are_refused_before_any_write(
    home: Path, run: Run, hf_env: HfEnv, name: str
) -> None:
    hf_env.hub.publish_commit(SENTIMENT, {name: "gotcha"}, branch="evil")
    code, out, err = run("snapshot", f"{SENTIMENT}@evil")
    assert (code, out) == (6, "")
    assert err.splitlines()[0] == f"error: refusing Hub file name {name!r}: " + (
        "it contains a backslash" if "\\" in name else "it has an empty, '.' or '..' component"
    )
    assert hf_env.hub.request_count("/resolve/") == 0
    assert not home.exists()
    assert_nothing_left(home, Path.cwd())
    assert not (Path.cwd().parent / "evil.txt").exists()


@pytest.mark.parametrize("case", ["unknown", "5xx", "corrupt", "ok"])
def test_the_token_is_never_printed(hf_env: HfEnv, tmp_path: Path, case: str) -> None:
    hub = hf_env.hub
    repo = "nobody/missing" if case == "unknown" else BASE
    if case == "5xx":
        hub.add_fault("/revision/", "503", count=100, retry_after=0)
    if case == "corrupt":
        hub.add_fault(GIT_FILE, "corrupt")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUBSNAP_"))}
    env |= {
        "HF_ENDPOINT": hf_env.endpoint,
        "HF_TOKEN": hub.token,
        "HUBSNAP_HOME": str(tmp_path / "h"),
        "HUBSNAP_DEBUG": "1",
    }
    done = subprocess.run(
        [sys.executable, "-m", "hubsnap", "snapshot", repo, "--json"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    expected = {"unknown": 3, "5xx": 5, "corrupt": 6, "ok": 0}[case]
    assert done.returncode == expected, done.stderr
    if case != "ok":
        assert "Traceback" in done.stderr  # debug output is on, and still clean
    assert hub.token not in done.stdout + done.stderr
    if case == "ok":
        assert hub.token not in (tmp_path / "snapshot.yaml").read_text()
        assert load_document(tmp_path / "snapshot.yaml")["commit"] == COMMITS[BASE]["main"]
