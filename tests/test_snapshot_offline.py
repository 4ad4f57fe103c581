"""``HF_HUB_OFFLINE=1``: ``snapshot`` answers from the local store what it holds, and every
other Hub request is one line, exit 2, with no request made."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.hub import BASE, COMMITS, HfEnv
from support.schemas import validated
from test_snapshot_cli import Run, home, run

__all__ = ["home", "run"]  # fixtures shared with test_snapshot_cli

OFFLINE_HINT = "hint: unset HF_HUB_OFFLINE to reach the Hub"


@pytest.mark.parametrize("revision", ["main", COMMITS[BASE]["main"]], ids=["branch", "commit"])
def test_offline_snapshot_gives_the_online_result_from_the_store(
    home: Path, run: Run, hf_env: HfEnv, monkeypatch: pytest.MonkeyPatch, revision: str
) -> None:
    code, first, err = run("snapshot", f"{BASE}@{revision}", "--json", "-o", "online.yaml")
    assert code == 0, err
    code, second, err = run("snapshot", f"{BASE}@{revision}", "--json", "-o", "online.yaml")
    assert code == 0, err  # online again: every file reused
    hf_env.hub.reset_request_counts()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    code, out, err = run("snapshot", f"{BASE}@{revision}", "--json", "-o", "offline.yaml")
    assert code == 0, err
    assert hf_env.hub.request_count("", method=None) == 0
    offline, online = validated(out, "snapshot-result"), json.loads(second)
    assert offline == {**online, "output": "offline.yaml"}
    assert offline["artifact"]["digest"] == json.loads(first)["artifact"]["digest"]
    assert offline["downloaded"] == [] and len(offline["reused"]) == len(offline["files"])
    assert Path("offline.yaml").read_bytes() == Path("online.yaml").read_bytes()
    code, plain, err = run("snapshot", f"{BASE}@{revision}", "-o", "offline.yaml")
    assert (code, plain) == (0, f"{offline['reference']}\n")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ([f"{BASE}@v2"], f"the local store holds no snapshot of {BASE}@v2"),
        ([BASE, "--include", "*.json"], "--include/--exclude/--metadata-only"),
        ([BASE, "--dry-run"], "--dry-run"),
    ],
    ids=["other-revision", "selection", "dry-run"],
)
def test_offline_snapshot_the_store_cannot_answer_is_one_line(
    home: Path,
    run: Run,
    *,
    hf_env: HfEnv,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    words: str,
) -> None:
    code, _, err = run("snapshot", f"{BASE}@main")
    assert code == 0, err
    hf_env.hub.reset_request_counts()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, out, err = run("snapshot", *args, "-o", "offline.yaml")
    assert (code, out) == (2, "")
    lines = err.splitlines()
    assert len(lines) == 2 and lines[1] == OFFLINE_HINT
    assert lines[0].startswith("error: HF_HUB_OFFLINE is set and ") and words in lines[0]
    assert hf_env.hub.request_count("", method=None) == 0
    assert not Path("offline.yaml").exists()


def test_offline_snapshot_with_an_empty_store_and_discover_are_one_line(
    home: Path, run: Run, hf_env: HfEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, out, err = run("snapshot", BASE)
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        f"error: HF_HUB_OFFLINE is set and the local store holds no snapshot of {BASE}@main: "
        "this needs the Hub",
        OFFLINE_HINT,
    ]
    code, out, err = run("discover", "--limit", "3")
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        "error: HF_HUB_OFFLINE is set: this command needs the Hub",
        OFFLINE_HINT,
    ]
    assert hf_env.hub.request_count("", method=None) == 0
    assert not (home / "store").exists()
