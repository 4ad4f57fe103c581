"""``hubsnap serve-model``: two artifacts served from two digests, compared as endpoints.

The seed's way, end to end: the emulator's sentiment model at v1 and v2 is snapshotted into
the store, each digest is served by ``python -m hubsnap serve-model`` (a CPU transformers
pipeline, the task from the card's pipeline_tag), and the comparison through the two
endpoints finds exactly the flipped probes 0 and 7. SIGTERM stops a server cleanly and
removes the folder it pulled.
"""

from __future__ import annotations

import importlib.util
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

import pytest

from hubsnap.diff.behaviour import Task, endpoint, parse_testset, run_behaviour
from support.hub import SENTIMENT, SENTIMENT_PROBES, HfEnv

pytestmark = [
    pytest.mark.hub,
    pytest.mark.behaviour_extra,
    pytest.mark.skipif(
        importlib.util.find_spec("transformers") is None,
        reason="needs the behaviour extra (transformers, torch)",
    ),
]


def _lines(stream: IO[str], into: queue.Queue[str]) -> None:
    for line in stream:
        into.put(line)


def _serving_url(lines: queue.Queue[str], timeout: float = 300) -> str:
    seen = []
    while True:
        try:
            line = lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"serve-model did not start: {seen}") from None
        seen.append(line)
        if line.startswith("serving "):
            return line.rsplit(" at ", 1)[1].strip()
        if line.startswith("error:"):
            raise AssertionError(line)


def test_two_served_digests_show_the_flipped_inputs(hf_env: HfEnv, tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUBSNAP_"))}
    env |= {"HF_ENDPOINT": hf_env.endpoint, "HUBSNAP_HOME": str(tmp_path / "h"),
            "TMPDIR": str(scratch)}  # fmt: skip
    refs = []
    for revision in ("v1", "v2"):
        done = subprocess.run(
            [sys.executable, "-m", "hubsnap", "snapshot", f"{SENTIMENT}@{revision}"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        refs.append(done.stdout.strip())
    servers: list[subprocess.Popen[str]] = []
    try:
        urls = []
        for ref in refs:
            proc = subprocess.Popen(
                [sys.executable, "-m", "hubsnap", "serve-model", ref, "--port", "0"],
                cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                text=True,
            )  # fmt: skip
            servers.append(proc)
            lines: queue.Queue[str] = queue.Queue()
            assert proc.stderr is not None
            threading.Thread(target=_lines, args=(proc.stderr, lines), daemon=True).start()
            urls.append(_serving_url(lines))
        testset = parse_testset("\n".join(f'{{"text": "{t}"}}' for t in SENTIMENT_PROBES).encode())
        report = run_behaviour(
            testset, endpoint(urls[0], role="baseline"), endpoint(urls[1], role="target"),
            task=Task.TEXT_CLASSIFICATION, timeout=120,
        )  # fmt: skip
        assert [i for i, row in enumerate(report.rows) if not row.consistent] == [0, 7]
        assert report.rows[0].base_labels == ("NEGATIVE",)
        assert report.rows[0].target_labels == ("POSITIVE",)
    finally:
        for proc in servers:
            proc.send_signal(signal.SIGTERM)
        codes = [proc.wait(timeout=60) for proc in servers]
    assert codes == [0, 0]
    assert list(scratch.glob("hubsnap-serve-*")) == []  # the pulled folders are gone
