"""An interrupted ``hubsnap snapshot`` (SIGTERM, Ctrl-C) against the Hub emulator: finished
files stay, the file being received resumes with ``Range``, nothing else is left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from hubsnap.oci.layout import LayoutStore
from support.hub import BASE, COMMITS, HfEnv
from support.schemas import validated
from test_snapshot_cli import Run, home, run

__all__ = ["home", "run"]  # fixtures shared with test_snapshot_cli

WEIGHTS = "model.safetensors"
CDN_WEIGHTS = r"^/_cdn/lfs/.*/model\.safetensors$"
COMMIT = COMMITS[BASE]["main"]


def hub_files(hf_env: HfEnv) -> dict[str, dict[str, Any]]:
    """The Hub's listing of BASE@main: path → sibling (size, lfs)."""
    url = f"{hf_env.endpoint}/api/models/{BASE}/revision/main?blobs=true"
    with urllib.request.urlopen(url, timeout=30) as answer:
        siblings = json.loads(answer.read())["siblings"]
    return {s["rfilename"]: s for s in siblings}


def partials(store: Path) -> list[Path]:
    return sorted((store / "ingest").glob("partial-*")) if (store / "ingest").is_dir() else []


def interrupted_snapshot(hf_env: HfEnv, home: Path, work: Path, sig: signal.Signals) -> int:
    """Start ``python -m hubsnap snapshot BASE`` with the weights trickling in, send ``sig``
    once a megabyte of them has arrived; return the size of the partial it left."""
    hf_env.hub.add_fault(CDN_WEIGHTS, "throttle", rate=2_000_000)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUBSNAP_"))}
    env |= {
        "HF_ENDPOINT": hf_env.endpoint,
        "HUBSNAP_HOME": str(home),
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "hubsnap", "snapshot", BASE, "-o", "s.yaml"],
        cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # Ctrl-C reaches a process whose SIGINT is not ignored (a background job's is); the
        # child only resets a signal disposition, which is safe after fork.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # noqa: PLW1509
    )  # fmt: skip
    deadline = time.monotonic() + 120  # "does not hang", not a timing assertion
    while not any(p.stat().st_size >= 1_000_000 for p in partials(home / "store")):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the weights never started to arrive"
        time.sleep(0.05)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert not (work / "s.yaml").exists()
    (partial,) = partials(home / "store")
    if sig is signal.SIGKILL:  # no clean-up at all: the partial is there all the same
        assert proc.returncode == -signal.SIGKILL
    else:
        expected = {signal.SIGTERM: (143, "terminated"), signal.SIGINT: (130, "interrupted")}
        assert (proc.returncode, out, err) == (expected[sig][0], "", f"error: {expected[sig][1]}\n")
        left = sorted(p.name for p in (home / "store" / "ingest").iterdir())
        assert left == [partial.name]  # no temp file: only the download to resume
    hf_env.hub.wait_idle()  # the interrupted body's bytes are counted before the reset
    hf_env.hub.clear_faults()
    hf_env.hub.reset_request_counts()
    return partial.stat().st_size


@pytest.mark.parametrize(
    ("sig", "ignore_range"),
    [(signal.SIGTERM, False), (signal.SIGINT, False), (signal.SIGTERM, True)],
    ids=["sigterm", "ctrl-c", "sigterm-server-ignores-range"],
)
def test_a_rerun_downloads_only_what_was_missing(
    home: Path, run: Run, hf_env: HfEnv, sig: signal.Signals, ignore_range: bool
) -> None:
    listing = hub_files(hf_env)
    held = interrupted_snapshot(hf_env, home, Path.cwd(), sig)
    size = listing[WEIGHTS]["size"]
    assert 0 < held < size
    if ignore_range:
        hf_env.hub.add_fault(CDN_WEIGHTS, "ignore_range")

    code, out, err = run("snapshot", BASE, "--json", "-o", "s.yaml")
    assert code == 0, err
    result = validated(out, "snapshot-result")
    reused, downloaded = set(result["reused"]), set(result["downloaded"])
    # The files verified before the signal stayed in the store and are not asked for again.
    assert reused and WEIGHTS in downloaded and downloaded - {WEIGHTS}
    for path in reused:
        assert hf_env.hub.request_count(f"/resolve/{COMMIT}/{path}") == 0, path
    weights = hf_env.hub.request_stats("/_cdn/lfs/")
    if ignore_range:  # asked from where it stopped, got everything, started over
        assert weights == {"count": 1, "ranged": 1, "bytes": size}
    else:
        assert weights == {"count": 1, "ranged": 1, "bytes": size - held}
    for path in downloaded - {WEIGHTS}:
        stats = hf_env.hub.request_stats(f"/resolve/{COMMIT}/{path}")
        assert stats == {"count": 1, "ranged": 0, "bytes": listing[path]["size"]}, path
    store = home / "store"
    assert list((store / "ingest").iterdir()) == []
    weights_blob = store / "blobs" / "sha256" / listing[WEIGHTS]["lfs"]["sha256"]
    assert weights_blob.stat().st_size == size
    code, _, err = run("store", "verify")
    assert code == 0, err
    tag = f"{BASE.lower()}:{COMMIT}"
    assert str(LayoutStore(store).tags()[tag]) == result["artifact"]["digest"]


def test_a_partial_that_is_not_the_files_beginning_is_downloaded_again(
    home: Path, run: Run, hf_env: HfEnv
) -> None:
    listing = hub_files(hf_env)
    sha256, size = listing[WEIGHTS]["lfs"]["sha256"], listing[WEIGHTS]["size"]
    store = LayoutStore(home / "store").ensure()
    (store.ingest_dir / f"partial-sha256-{sha256}").write_bytes(b"\0" * 5000)
    code, _, err = run("snapshot", BASE)
    assert code == 0, err
    # Resumed at byte 5,000, the whole file failed its sha256: once more from byte 0.
    assert hf_env.hub.request_stats("/_cdn/lfs/") == {
        "count": 2,
        "ranged": 1,
        "bytes": (size - 5000) + size,
    }
    assert list(store.ingest_dir.iterdir()) == []


def test_a_partial_of_a_whole_file_needs_no_request(home: Path, run: Run, hf_env: HfEnv) -> None:
    listing = hub_files(hf_env)
    code, _, err = run("snapshot", BASE, "--include", WEIGHTS)
    assert code == 0, err
    sha256 = listing[WEIGHTS]["lfs"]["sha256"]
    blob = home / "store" / "blobs" / "sha256" / sha256
    partial = home / "store" / "ingest" / f"partial-sha256-{sha256}"
    partial.write_bytes(blob.read_bytes())  # killed after the last byte, before the rename
    blob.chmod(0o644)
    blob.unlink()
    hf_env.hub.reset_request_counts()
    code, _, err = run("snapshot", BASE, "--include", WEIGHTS)
    assert code == 0, err
    assert hf_env.hub.request_count("/_cdn/lfs/") == 0
    assert blob.stat().st_size == listing[WEIGHTS]["size"]
    assert not partial.exists()


def test_store_gc_sweeps_an_interrupted_download(home: Path, run: Run, hf_env: HfEnv) -> None:
    interrupted_snapshot(hf_env, home, Path.cwd(), signal.SIGTERM)
    code, out, err = run("store", "gc", "--json")
    assert code == 0, err
    assert json.loads(out)["swept"] == 1
    assert list((home / "store" / "ingest").iterdir()) == []
    interrupted_snapshot(hf_env, home, Path.cwd(), signal.SIGTERM)
    code, out, err = run("store", "gc")
    assert code == 0, err
    assert out.rstrip().endswith("; removed 1 temp file(s) of interrupted or killed runs")


def test_a_download_killed_hard_resumes_too(home: Path, run: Run, hf_env: HfEnv) -> None:
    """``kill -9``: the kernel drops the partial's lock, so the next run takes it over."""
    size = hub_files(hf_env)[WEIGHTS]["size"]
    held = interrupted_snapshot(hf_env, home, Path.cwd(), signal.SIGKILL)
    code, _, err = run("snapshot", BASE)
    assert code == 0, err
    assert hf_env.hub.request_stats("/_cdn/lfs/") == {"count": 1, "ranged": 1, "bytes": size - held}
    assert partials(home / "store") == []
    # The killed run's finished files were still temp files: its pid is gone, gc sweeps them.
    code, _, err = run("store", "gc")
    assert code == 0, err
    assert list((home / "store" / "ingest").iterdir()) == []
