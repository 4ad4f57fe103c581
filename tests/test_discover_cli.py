"""``hubsnap discover`` against the Hub emulator: ordering, filters, lazy paging, ETags,
incremental runs."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from support.hub import BASE, BULK_AUTHOR, GATED, PRIVATE, SENTIMENT, HfEnv
from support.schemas import validated
from test_snapshot_cli import Run, home, run

__all__ = ["home", "run"]  # fixtures shared with test_snapshot_cli


def listed(run: Run, *args: str) -> list[dict[str, object]]:
    code, out, err = run("discover", *args, "--json")
    assert code == 0, err
    return list(validated(out, "discover")["models"])


def test_task_listing_newest_first_as_table_and_json(home: Path, run: Run) -> None:
    models = listed(run, "--task", "text-classification", "--limit", "5")
    assert len(models) == 5
    stamps = [str(m["last_modified"]) for m in models]
    assert stamps == sorted(stamps, reverse=True)
    assert {m["pipeline_tag"] for m in models} == {"text-classification"}
    assert not any(m["private"] or m["gated"] or m["disabled"] for m in models)
    assert set(models[0]) >= {"model_id", "last_modified", "downloads", "pipeline_tag"}
    code, out, err = run("discover", "--task", "text-classification", "--limit", "5")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["MODEL", "LAST", "MODIFIED", "DOWNLOADS", "PIPELINE", "TAG"]
    assert [line.split()[0] for line in lines[1:]] == [m["model_id"] for m in models]
    assert lines[1].split()[1:] == [
        str(models[0]["last_modified"]),
        str(models[0]["downloads"]),
        "text-classification",
    ]


def test_sort_by_downloads(home: Path, run: Run) -> None:
    models = listed(run, "--author", BULK_AUTHOR, "--sort", "downloads", "--limit", "20")
    counts = [int(str(m["downloads"])) for m in models]
    assert len(counts) == 20 and counts == sorted(counts, reverse=True)


def test_pages_are_fetched_only_as_far_as_the_limit_needs(
    home: Path, run: Run, hf_env: HfEnv
) -> None:
    hub = hf_env.hub
    assert len(listed(run, "--author", BULK_AUTHOR, "--limit", "5")) == 5
    assert hub.request_count("/api/models") == 1
    hub.reset_request_counts()
    assert len(listed(run, "--author", BULK_AUTHOR, "--limit", "1001")) == 1001
    assert hub.request_count("/api/models") == 2  # pages of 1000: exactly two


def test_a_repeated_listing_reuses_the_cached_page_on_304(
    home: Path, run: Run, hf_env: HfEnv
) -> None:
    first = listed(run, "--author", BULK_AUTHOR, "--limit", "3")
    # Mark the cached copy: if the second run shows the mark, the 304 reused the page.
    with sqlite3.connect(home / "discover.sqlite") as db:
        ((body,),) = db.execute("SELECT body FROM pages").fetchall()
        page = json.loads(body)
        page[0]["downloads"] = 424242
        db.execute("UPDATE pages SET body = ?", (json.dumps(page).encode(),))
    hf_env.hub.reset_request_counts()
    second = listed(run, "--author", BULK_AUTHOR, "--limit", "3")
    assert hf_env.hub.request_count("/api/models") == 1
    assert [m["model_id"] for m in second] == [m["model_id"] for m in first]
    assert second[0]["downloads"] == 424242


def test_private_gated_left_out_unless_asked(
    home: Path, run: Run, hf_env: HfEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    def ids(*flags: str) -> set[str]:
        return {str(m["model_id"]) for m in listed(run, "--author", "hubsnap-fixtures", *flags)}

    assert SENTIMENT in ids() and GATED not in ids() and PRIVATE not in ids()
    assert GATED in ids("--include-gated")
    monkeypatch.setenv("HF_TOKEN", hf_env.hub.token)
    assert PRIVATE not in ids()
    assert PRIVATE in ids("--include-private")


def test_since_shows_only_newer_models(home: Path, run: Run) -> None:
    models = listed(run, "--author", "hubsnap-fixtures", "--since", "2024-05-05T00:00:00Z")
    assert [m["model_id"] for m in models] == [SENTIMENT, "hubsnap-fixtures/minilm-finetuned-int8"]


def test_incremental_shows_what_changed_since_the_last_run(
    home: Path, run: Run, hf_env: HfEnv
) -> None:
    query = ("--author", "sentence-transformers", "--incremental")
    assert [m["model_id"] for m in listed(run, *query)] == [BASE]
    assert listed(run, *query) == []
    code, out, _ = run("discover", *query)
    assert (code, out) == (0, "no models changed\n")
    # Another query has its own state.
    assert [m["model_id"] for m in listed(run, "--search", "MiniLM-L6", "--incremental")] == [BASE]
    hf_env.hub.publish_commit(BASE, {"notes.txt": "new"}, date="2030-01-02T03:04:05Z")
    changed = listed(run, *query)
    assert [(m["model_id"], m["last_modified"]) for m in changed] == [
        (BASE, "2030-01-02T03:04:05Z")
    ]
    assert listed(run, *query) == []


SINCE = "--since and --incremental"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--since", "2024-01-01", "--incremental"), f"{SINCE} cannot be combined"),
        (("--since", "2024-01-01", "--sort", "downloads"), f"{SINCE} need --sort last_modified"),
        (("--sort", "trending"), "unknown sort 'trending'"),
        (("--since", "last tuesday"), "invalid timestamp 'last tuesday'"),
        (("--limit", "0"), "--limit must be at least 1"),
    ],
)  # fmt: skip
def test_bad_options_are_usage_errors(
    home: Path, run: Run, hf_env: HfEnv, args: tuple[str, ...], message: str
) -> None:
    code, out, err = run("discover", *args)
    assert (code, out) == (2, "")
    assert err.splitlines()[0] == f"error: {message}"
    assert hf_env.hub.request_count("/api/models") == 0
    assert not home.exists()


def test_discover_in_a_subprocess(hf_env: HfEnv, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUBSNAP_"))}
    env |= {"HF_ENDPOINT": hf_env.endpoint, "HUBSNAP_HOME": str(tmp_path / "h")}
    done = subprocess.run(
        [sys.executable, "-m", "hubsnap", "discover", "--task", "text-classification",
         "--limit", "5"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 6 and done.stderr == ""
    hf_env.hub.add_fault("/api/models", "503", count=100, retry_after=0)
    done = subprocess.run(
        [sys.executable, "-m", "hubsnap", "discover", "--limit", "2"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert (done.returncode, done.stdout) == (5, "")
    assert done.stderr == "error: model listing: the Hub answered 503 after 5 attempts\n"
