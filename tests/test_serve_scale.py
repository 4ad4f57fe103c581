"""Exactly once at fleet scale: the same delivery 100 times, a burst of 1,000 duplicate events
on 8 connections (all answered, the server's memory bounded), and eight RQ workers on eight
"machines" running the same job at once → one manifest, one signature per (subject, key), one
LFS commit."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hubsnap.serve.jobs import JobSpec
from support.hub import HubEmulator
from support.lfs import git
from support.registry import RegistryServer
from support.serve import Served, ServeEnv
from test_serve_webhook import (
    OWNER,
    files,
    model_manifests,
    new_repo,
    payload,
    registry_json,
    signature_count,
    verify,
)

pytestmark = [pytest.mark.registry]

WORKERS = 8


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _hinted(repo_id: str, n: int) -> bytes:
    """Delivery ``n`` of one push: the same event with another (forged or stale) sha hint and
    another webhook id, so no two bodies are alike."""
    data = json.loads(payload(repo_id, f"{n:040x}"))
    data["webhook"]["id"] = f"{n:024x}"
    return json.dumps(data).encode()


def _burst(server: Served, bodies: list[bytes], connections: int) -> list[tuple[int, Any]]:
    answers: list[tuple[int, Any]] = []
    lock = threading.Lock()

    def deliver(share: list[bytes]) -> None:
        for body in share:
            answer = server.post(body)
            with lock:
                answers.append(answer)

    threads = [
        threading.Thread(target=deliver, args=(bodies[n::connections],)) for n in range(connections)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return answers


def _worker_env(senv: ServeEnv, n: int) -> dict[str, str]:
    """A worker on its own machine: its own HUBSNAP_HOME and Hub cache."""
    root = senv.root / f"machine-{n}"
    return senv.env | {"HUBSNAP_HOME": str(root / "home"), "HF_HOME": str(root / "hf")}


def test_duplicates_at_scale_make_one_manifest_one_signature(
    serve: Callable[..., Served],
    serve_env: ServeEnv,
    registry: RegistryServer,
    hub: HubEmulator,
    redis_url: str,
) -> None:
    from hubsnap.serve.rq_queue import RqQueue, connect

    server = serve(
        "--registry", f"{registry.host}/mirror", "--watch", f"{OWNER}/*",
        "--poll-interval", "1h", "--queue", redis_url,
    )  # fmt: skip
    server.wait_reconciled()
    repo_id = new_repo(hub)
    sha = hub.publish_commit(repo_id, files("scale"))
    job_id = JobSpec(repo_id, sha).id

    # the same delivery 100 times (the Hub's redeliveries, a replay)
    same = [server.post(payload(repo_id, sha)) for _ in range(100)]
    assert {(status, tuple(body["jobs"])) for status, body in same} == {(202, (job_id,))}
    assert [body["duplicate"] for _, body in same].count(False) == 1

    # a burst of 1,000 more events of that push on 8 connections: all answered, memory bounded
    assert server.proc is not None
    before = _rss_kib(server.proc.pid)
    burst = _burst(server, [_hinted(repo_id, n) for n in range(1000)], connections=8)
    assert len(burst) == 1000
    assert {(status, tuple(body["jobs"])) for status, body in burst} == {(202, (job_id,))}
    assert all(body["duplicate"] for _, body in burst)
    grown = _rss_kib(server.proc.pid) - before
    assert grown < 64 * 1024, f"{grown} KiB more after the burst"  # no per-delivery state kept
    assert server.metric('hubsnap_webhook_deliveries_total{result="duplicate"}') == 1099

    # seven copies of the job that got past the claim, as a broken enqueuer would make (with
    # the same retries): eight workers on eight machines now run the same key at once
    queue = RqQueue(connect(redis_url), prefix=f"{registry.host}/mirror", job_timeout=600)
    for n in range(WORKERS - 1):
        queue._enqueue_job(JobSpec(repo_id, sha, "full", "main"), job_id=f"copy-{n}")
    assert queue.depth() == WORKERS
    lfs_repo = serve_env.root / "shared-lfs"
    argv = [sys.executable, "-m", "hubsnap", "worker", "--queue", redis_url, "--burst",
            "--lfs-repo", str(lfs_repo)]  # fmt: skip
    paths = [serve_env.root / f"worker-{n}.log" for n in range(WORKERS)]
    workers = []
    for n, path in enumerate(paths):
        with path.open("wb") as out:
            workers.append(
                subprocess.Popen(argv, env=_worker_env(serve_env, n), stdout=out, stderr=out)
            )
    codes = [w.wait(timeout=180) for w in workers]
    logs = [path.read_text(errors="replace") for path in paths]
    assert codes == [0] * WORKERS, logs
    done = [
        json.loads(line)
        for log in logs
        for line in log.splitlines()
        if line.startswith("{") and '"event":"job.done"' in line
    ]
    others = [line for log in logs for line in log.splitlines() if '"event":"job.' not in line]
    # Each job ends done once; a try the registry refused while another worker pushed the
    # same blobs (distribution answers 400 DIGEST_INVALID then) is retried at once.
    assert len(done) == WORKERS, "\n".join(others)
    assert [d["signed"] for d in done].count(True) == 1
    assert sum(len(d["lfs_commits"]) for d in done) == 1

    dest = f"mirror/{repo_id}"
    _, digest = registry_json(registry, f"{dest}/manifests/{sha}")
    assert model_manifests(registry, dest) == [digest]
    assert signature_count(registry, dest, digest) == 2  # one OMS signature, one provenance
    assert registry_json(registry, f"{dest}/manifests/main")[1] == digest
    branch = f"refs/heads/{repo_id}/main"
    assert git(lfs_repo, "rev-list", "--count", branch).strip() == "1"
    checked = verify(serve_env, f"{registry.host}/{dest}@{digest}")
    assert checked.returncode == 0, checked.stderr
    assert server.metric("hubsnap_queue_depth") == 0
    queue.close()
