"""Fleet scale: jobs on RQ over a real ``redis-server``, run by ``hubsnap worker``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from hubsnap.serve.jobs import JobSpec
from support.hub import HubEmulator
from support.registry import RegistryServer
from support.serve import Served, ServeEnv, most_holders_at_once, wait_for
from test_serve_webhook import (
    OWNER,
    files,
    new_repo,
    payload,
    registry_json,
    repository_exists,
    signature_count,
)
from test_serve_webhook import verify as verify_cli

SHA = "e" * 40


def test_enqueue_once_across_threads_is_one_rq_job(redis_url: str) -> None:
    from hubsnap.serve.rq_queue import RqQueue, connect

    queue = RqQueue(connect(redis_url), prefix="r/p", job_timeout=3600)
    spec = JobSpec("acme/tiny", SHA, "full", "main")
    results: list[bool] = []
    lock = threading.Lock()

    def deliver() -> None:
        for _ in range(125):
            added = queue.enqueue(spec)
            with lock:
                results.append(added)

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 1000 and results.count(True) == 1
    assert queue.queue.get_job_ids() == [spec.id]
    job = queue.queue.fetch_job(spec.id)
    assert job is not None
    assert job.timeout == 3600
    assert job.retries_left is not None and job.retries_left >= 3
    assert queue.depth() == 1
    assert queue.claim_name("r/p/acme/tiny", "acme/tiny")
    assert not queue.claim_name("r/p/acme/tiny", "Acme/Tiny")
    queue.close()


def test_worker_settings_are_hubsnaps() -> None:
    from hubsnap.serve import rq_queue

    assert rq_queue.JOB_MONITORING_INTERVAL <= 10
    assert rq_queue.MAINTENANCE_INTERVAL <= 30
    assert rq_queue.WORKER_TTL <= 60
    assert len(rq_queue.RETRY_INTERVALS) >= 3


def test_a_redis_lease_is_exclusive(redis_url: str) -> None:
    from hubsnap.serve.rq_queue import connect, redis_lease

    hold = redis_lease(connect(redis_url))
    most = most_holders_at_once(hold, "sha256:" + "2" * 64, threads=5, join_timeout=60)
    assert most == 1


def test_unreachable_redis_is_one_line_exit_5(serve_env: ServeEnv) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "hubsnap", "worker", "--queue", "redis://127.0.0.1:1/0"],
        env=serve_env.env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert run.returncode == 5
    assert run.stderr.strip().count("\n") == 0, run.stderr


@pytest.mark.registry
def test_server_queues_on_redis_and_a_worker_mirrors(
    serve: Callable[..., Served],
    serve_env: ServeEnv,
    registry: RegistryServer,
    hub: HubEmulator,
    redis_url: str,
) -> None:
    server = serve(
        "--registry", f"{registry.host}/mirror", "--watch", f"{OWNER}/*",
        "--poll-interval", "1h", "--queue", redis_url,
    )  # fmt: skip
    server.wait_reconciled()
    repo_id = new_repo(hub)
    sha = hub.publish_commit(repo_id, files("rq"))
    answers = [server.post(payload(repo_id, sha)) for _ in range(20)]
    assert {status for status, _ in answers} == {202}
    assert [body["duplicate"] for _, body in answers].count(False) == 1
    assert server.jobs() == []  # nothing in the embedded queue: Redis holds it
    assert server.metric("hubsnap_queue_depth") == 1

    worker = subprocess.run(
        [sys.executable, "-m", "hubsnap", "worker", "--queue", redis_url, "--burst"],
        env=serve_env.env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert worker.returncode == 0, worker.stderr
    dest = f"mirror/{repo_id}"
    _, digest = registry_json(registry, f"{dest}/manifests/{sha}")
    _, main = registry_json(registry, f"{dest}/manifests/main")
    assert main == digest
    assert signature_count(registry, dest, digest) == 2
    checked = verify_cli(serve_env, f"{registry.host}/{dest}@{digest}")
    assert checked.returncode == 0, checked.stderr
    assert server.metric("hubsnap_queue_depth") == 0
    # a redelivery after the job is done adds nothing
    assert server.post(payload(repo_id, sha)) == (202, {"jobs": [answers[0][1]["jobs"][0]],
                                                       "duplicate": True})  # fmt: skip


def _burst(senv: ServeEnv, redis_url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hubsnap", "worker", "--queue", redis_url, "--burst", *extra],
        env=senv.env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


@pytest.mark.registry
def test_a_job_that_cannot_succeed_fails_once_and_frees_its_key(
    serve_env: ServeEnv, registry: RegistryServer, hub: HubEmulator, redis_url: str
) -> None:
    from hubsnap.serve.rq_queue import RqQueue, connect

    repo_id = new_repo(hub)
    sha = hub.publish_commit(repo_id, files("too-long"))
    # no valid destination under this prefix (over 255 characters): retrying cannot help
    prefix = f"{registry.host}/{'p' * 250}"
    queue = RqQueue(connect(redis_url), prefix=prefix, job_timeout=600)
    spec = JobSpec(repo_id, sha, "full", "main")
    assert queue.enqueue(spec)
    worker = _burst(serve_env, redis_url)
    assert worker.returncode == 0, worker.stderr
    job = queue.queue.fetch_job(spec.id)
    assert job is not None and job.get_status() == "failed"
    assert '"final":true' in worker.stderr  # usage and integrity failures are not retried
    assert queue.enqueue(spec)  # its key is free again
    queue.close()


@pytest.mark.registry
def test_a_commit_without_model_files_is_skipped_before_any_push(
    serve_env: ServeEnv, registry: RegistryServer, hub: HubEmulator, redis_url: str
) -> None:
    from hubsnap.serve.rq_queue import RqQueue, connect

    repo_id = new_repo(hub)
    initial = hub.repo_state(repo_id)["branches"]["main"]  # only .gitattributes: nothing to sign
    queue = RqQueue(connect(redis_url), prefix=f"{registry.host}/mirror", job_timeout=600)
    spec = JobSpec(repo_id, initial, "full", "main")
    assert queue.enqueue(spec)
    worker = _burst(serve_env, redis_url)
    assert worker.returncode == 0, worker.stderr
    job = queue.queue.fetch_job(spec.id)
    assert job is not None and job.get_status() == "finished"
    assert job.return_value() == {"skipped": "no model files to sign"}
    assert '"event":"job.skipped"' in worker.stderr
    assert not repository_exists(registry, f"mirror/{repo_id}")  # nothing unsigned was left
    assert not queue.enqueue(spec)  # done: an event for it adds nothing
    queue.close()


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


@pytest.mark.registry
def test_a_worker_killed_mid_job_has_its_job_completed_by_another(
    serve_env: ServeEnv, registry: RegistryServer, hub: HubEmulator, redis_url: str
) -> None:
    from rq.registry import StartedJobRegistry

    from hubsnap.serve.rq_queue import RqQueue, connect

    repo_id = new_repo(hub)
    sha = hub.publish_commit(repo_id, files("killed"))
    queue = RqQueue(connect(redis_url), prefix=f"{registry.host}/mirror", job_timeout=600)
    spec = JobSpec(repo_id, sha, "full", "main")
    assert queue.enqueue(spec)
    hub.add_fault(r"/resolve/", kind="delay", delay=30, count=10)
    argv = [sys.executable, "-m", "hubsnap", "worker", "--queue", redis_url]
    log_a = serve_env.root / "worker-a.log"
    with log_a.open("wb") as out:
        first = subprocess.Popen(argv, env=serve_env.env, stdout=out, stderr=out)
    try:
        wait_for(lambda: "job.started" in log_a.read_text(), timeout=60, what="the job to start")
        horses = _children(first.pid)
        assert horses, "the work horse is a child of the worker"
        for pid in [first.pid, *horses]:
            os.kill(pid, signal.SIGKILL)  # the worker and its work horse, as a crash would
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    hub.clear_faults()
    # The killed worker's heartbeat stops; let it lapse now rather than in 70 s.
    started = StartedJobRegistry(queue=queue.queue)
    entries = queue.redis.zrange(started.key, 0, -1)
    assert entries
    # Members only (no scores were asked for), as bytes (the client does not decode).
    members = [e for e in entries if isinstance(e, bytes)]
    assert len(members) == len(entries)
    queue.redis.zadd(started.key, dict.fromkeys(members, 1))
    log_b = serve_env.root / "worker-b.log"
    with log_b.open("wb") as out:
        second = subprocess.Popen(argv, env=serve_env.env, stdout=out, stderr=out)
    try:
        wait_for(lambda: '"event":"job.done"' in log_b.read_text(), timeout=120,
                 what="another worker to complete the job")  # fmt: skip
    finally:
        os.kill(second.pid, signal.SIGTERM)
        second.wait(timeout=60)
    dest = f"mirror/{repo_id}"
    _, digest = registry_json(registry, f"{dest}/manifests/{sha}")
    assert signature_count(registry, dest, digest) == 2
    checked = verify_cli(serve_env, f"{registry.host}/{dest}@{digest}")
    assert checked.returncode == 0, checked.stderr
    queue.close()


_CRASH = """
import os, signal, sys
from hubsnap.serve.jobs import JobSpec
from hubsnap.serve.rq_queue import RqQueue, connect

queue = RqQueue(connect(sys.argv[1]), prefix="r/p", job_timeout=600, claim_ttl=2)

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

if sys.argv[2] == "before-enqueue":
    queue._enqueue_job = die
else:
    queue.redis.persist = die
queue.enqueue(JobSpec("acme/tiny", "e" * 40, "full", "main"))
"""


def _crash_enqueuer(redis_url: str, where: str) -> None:
    """An enqueuer killed (-9) at ``where``: after the key's SET NX, or after the enqueue."""
    done = subprocess.run(
        [sys.executable, "-c", _CRASH, redis_url, where],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == -signal.SIGKILL, done.stderr


def test_a_key_claimed_by_an_enqueuer_that_died_is_not_lost(redis_url: str) -> None:
    from hubsnap.serve.rq_queue import RqQueue, connect

    _crash_enqueuer(redis_url, "before-enqueue")
    queue = RqQueue(connect(redis_url), prefix="r/p", job_timeout=600, claim_ttl=2)
    spec = JobSpec("acme/tiny", SHA, "full", "main")
    claim = f"hubsnap:key:{spec.id}"
    assert queue.redis.ttl(claim) > 0  # claimed, never enqueued
    assert queue.queue.get_job_ids() == []
    assert not queue.enqueue(spec)  # the claimant may still be enqueueing
    wait_for(lambda: queue.enqueue(spec), timeout=20, what="the dead claim to lapse")
    assert queue.queue.get_job_ids() == [spec.id]
    assert queue.redis.ttl(claim) == -1  # confirmed: permanent now
    assert not queue.enqueue(spec)
    queue.close()


def test_a_job_enqueued_by_an_enqueuer_that_died_before_confirming_is_kept_once(
    redis_url: str,
) -> None:
    from hubsnap.serve.rq_queue import RqQueue, connect

    _crash_enqueuer(redis_url, "before-confirm")
    queue = RqQueue(connect(redis_url), prefix="r/p", job_timeout=600, claim_ttl=2)
    spec = JobSpec("acme/tiny", SHA, "full", "main")
    claim = f"hubsnap:key:{spec.id}"
    assert queue.queue.get_job_ids() == [spec.id]
    wait_for(lambda: not queue.redis.exists(claim), timeout=20, what="the claim to lapse")
    assert not queue.enqueue(spec)  # the job is there: the claim is only confirmed
    assert queue.redis.ttl(claim) == -1
    assert queue.queue.get_job_ids() == [spec.id]  # once, not twice
    queue.close()


@pytest.mark.registry
def test_a_ref_made_later_on_a_mirrored_commit_reruns_the_job_to_tag_it(
    serve_env: ServeEnv, registry: RegistryServer, hub: HubEmulator, redis_url: str
) -> None:
    from hubsnap.serve.rq_queue import RqQueue, connect

    repo_id = new_repo(hub)
    sha = hub.publish_commit(repo_id, files("rq-refs"))
    queue = RqQueue(connect(redis_url), prefix=f"{registry.host}/mirror", job_timeout=600)
    assert queue.enqueue(JobSpec(repo_id, sha, "full", "main"))
    assert _burst(serve_env, redis_url).returncode == 0
    dest = f"mirror/{repo_id}"
    _, digest = registry_json(registry, f"{dest}/manifests/{sha}")
    assert registry_json(registry, f"{dest}/manifests/main")[1] == digest
    assert not queue.enqueue(JobSpec(repo_id, sha, "full", "main"))  # tagged: nothing to do

    hub.set_ref(repo_id, "v1", sha)
    later = JobSpec(repo_id, sha, "full", "v1")
    assert queue.enqueue(later)  # reopened, once
    assert not queue.enqueue(later)
    worker = _burst(serve_env, redis_url)
    assert worker.returncode == 0, worker.stderr
    assert registry_json(registry, f"{dest}/manifests/v1")[1] == digest
    assert signature_count(registry, dest, digest) == 2
    assert not queue.enqueue(later)
    queue.close()


@pytest.mark.registry
def test_a_worker_killed_mid_push_leaves_no_blob_to_send_twice(
    serve_env: ServeEnv, registry: RegistryServer, hub: HubEmulator, redis_url: str
) -> None:
    from rq.registry import StartedJobRegistry

    from hubsnap.serve.rq_queue import RqQueue, connect
    from support.registry_proxy import counting_proxy

    repo_id = new_repo(hub)
    extra: dict[str, bytes | str] = {f"vocab-{n}.json": json.dumps([n]) for n in range(3)}
    sha = hub.publish_commit(repo_id, files("rq-mid-push") | extra)
    argv = [sys.executable, "-m", "hubsnap", "worker", "--queue", redis_url]
    with counting_proxy(registry.host) as proxy:
        queue = RqQueue(connect(redis_url), prefix=f"{proxy.host}/mirror", job_timeout=600)
        assert queue.enqueue(JobSpec(repo_id, sha, "full", "main"))
        proxy.hold_uploads_after(2)
        log_a = serve_env.root / "worker-a.log"
        with log_a.open("wb") as out:
            first = subprocess.Popen(argv, env=serve_env.env, stdout=out, stderr=out)
        try:
            wait_for(proxy.holding.is_set, timeout=90, what="the push to reach its third blob")
            for pid in [first.pid, *_children(first.pid)]:
                os.kill(pid, signal.SIGKILL)  # the worker and its work horse
            first.wait(timeout=30)
        finally:
            if first.poll() is None:
                first.kill()
                first.wait()
        wait_for(proxy.settled, timeout=30, what="the uploads let through to finish")
        before = proxy.uploads()
        assert len(before) == 2
        proxy.release(drop=True)
        started = StartedJobRegistry(queue=queue.queue)
        members = [e for e in queue.redis.zrange(started.key, 0, -1) if isinstance(e, bytes)]
        assert members
        queue.redis.zadd(started.key, dict.fromkeys(members, 1))  # the heartbeat has lapsed
        log_b = serve_env.root / "worker-b.log"
        with log_b.open("wb") as out:
            second = subprocess.Popen(argv, env=serve_env.env, stdout=out, stderr=out)
        try:
            wait_for(lambda: '"event":"job.done"' in log_b.read_text(), timeout=120,
                     what="another worker to complete the job")  # fmt: skip
        finally:
            os.kill(second.pid, signal.SIGTERM)
            second.wait(timeout=60)
        after = proxy.uploads()[len(before) :]
        queue.close()
    assert not set(before) & set(after), "a blob the registry had was sent again"
    dest = f"mirror/{repo_id}"
    manifest, digest = registry_json(registry, f"{dest}/manifests/{sha}")
    blobs = {layer["digest"] for layer in manifest["layers"]} | {manifest["config"]["digest"]}
    assert set(before) <= blobs <= set(before + after)
    assert signature_count(registry, dest, digest) == 2
