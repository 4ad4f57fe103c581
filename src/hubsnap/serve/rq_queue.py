"""Fleet scale: jobs on RQ over Redis, run by ``hubsnap worker`` processes anywhere.

RQ forks a work horse per job and keeps a heartbeat while it runs (no visibility timeout that
would redeliver a long push), so a worker killed mid-job leaves its job in the started
registry until the heartbeat expires; maintenance then retries it on another worker. hubsnap
sets every interval itself: job monitoring 10 s, maintenance 30 s, worker TTL 60 s, three
retries (at once, then after 1 and 5 minutes), and an explicit job timeout (RQ's default is 180 s).

"Enqueue once" is hubsnap's: RQ overwrites a job enqueued under an existing id, so the key is
first claimed with an atomic ``SET NX`` and only the claimant enqueues; the key is freed only
when the job fails for good. The job id is the
hash of the key (``[0-9a-f]``). Workers need no state of the server: the job carries the
repository, commit, selection, ref and destination prefix; the registry is the shared store.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from redis import Redis
from redis.exceptions import LockError, RedisError
from rq import Callback, Queue, Retry, Worker, get_current_job
from rq.job import Job
from rq.registry import ScheduledJobRegistry, StartedJobRegistry

from hubsnap.api import serve as mirror_api
from hubsnap.api.session import TransportOptions
from hubsnap.config import Settings
from hubsnap.errors import ExitCode, HubsnapError, RemoteError, UsageError
from hubsnap.serve.jobs import JobSpec, selection_from_key
from hubsnap.serve.logs import log

__all__ = ["QUEUE_NAME", "RqQueue", "WorkerContext", "job_failed", "run_job", "run_worker"]

QUEUE_NAME = "hubsnap"
JOB_MONITORING_INTERVAL = 10
MAINTENANCE_INTERVAL = 30
WORKER_TTL = 60
#: The first retry is at once: a job abandoned by a killed worker must not wait for RQ's
#: scheduler, whose lock the dead worker may hold for another minute. Later ones back off.
RETRY_INTERVALS = (0, 60, 300)
LEASE_SECONDS = 120
_PREFIX = "hubsnap:"


def connect(url: str) -> Redis:
    """A Redis connection for ``redis://HOST:PORT/DB``, checked with a ping."""
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise UsageError(f"--queue {url!r} is not a redis:// URL")
    try:
        redis = Redis.from_url(url, socket_timeout=30, socket_connect_timeout=10)
        redis.ping()
    except (RedisError, ValueError) as e:
        raise RemoteError(f"cannot reach Redis at the --queue address ({type(e).__name__})") from e
    return redis


class RqQueue:
    """The server's side: claims keys, enqueues RQ jobs, reports depth."""

    def __init__(self, redis: Redis, *, prefix: str, job_timeout: float) -> None:
        self.redis = redis
        self.queue = Queue(QUEUE_NAME, connection=redis)
        self._prefix = prefix
        self._timeout = int(job_timeout)

    def enqueue(self, spec: JobSpec) -> bool:
        key = f"{_PREFIX}key:{spec.id}"
        try:
            if not self.redis.set(key, spec.key, nx=True):
                return False
            try:
                self.queue.enqueue(
                    run_job, {**spec.to_json(), "prefix": self._prefix},
                    job_id=spec.id, job_timeout=self._timeout,
                    retry=Retry(max=len(RETRY_INTERVALS), interval=list(RETRY_INTERVALS)),
                    on_failure=Callback(job_failed),
                    result_ttl=7 * 86400, failure_ttl=30 * 86400,
                    description=f"mirror {spec.id}",
                )  # fmt: skip
            except BaseException:
                self.redis.delete(key)  # not queued: the next event may queue it
                raise
        except RedisError as e:
            raise RemoteError(f"Redis refused the job ({type(e).__name__})") from e
        return True

    def depth(self) -> int:
        try:
            started = StartedJobRegistry(queue=self.queue).count
            scheduled = ScheduledJobRegistry(queue=self.queue).count  # type: ignore[no-untyped-call]
            return int(self.queue.count + started + scheduled)
        except RedisError as e:
            raise RemoteError(f"Redis did not answer ({type(e).__name__})") from e

    def oldest_pending_age(self) -> float:
        try:
            ids = self.queue.get_job_ids(0, 1)
            job = self.queue.fetch_job(ids[0]) if ids else None
        except RedisError as e:
            raise RemoteError(f"Redis did not answer ({type(e).__name__})") from e
        if job is None or job.enqueued_at is None:
            return 0.0
        return max(0.0, time.time() - job.enqueued_at.timestamp())

    def claim_name(self, destination: str, repo_id: str) -> bool:
        key = f"{_PREFIX}name:{destination}"
        try:
            self.redis.set(key, repo_id, nx=True)
            held = self.redis.get(key)
        except RedisError as e:
            raise RemoteError(f"Redis did not answer ({type(e).__name__})") from e
        return held == repo_id.encode()

    def close(self) -> None:
        self.redis.close()


def job_failed(
    job: Job,
    connection: Redis,
    kind: type[BaseException] | None,
    value: BaseException | None,
    traceback: Any,
) -> None:
    """RQ's failure callback, called on each failure before RQ decides on a retry: a failure
    retrying cannot change (usage, integrity) is final at once, and a job that will not run
    again frees its key, so a later event may queue it anew."""
    if isinstance(value, HubsnapError) and value.exit_code not in (
        ExitCode.REMOTE, ExitCode.NOT_FOUND,
    ):  # fmt: skip
        job.retries_left = 0
    if not job.retries_left:
        connection.delete(f"{_PREFIX}key:{job.id}")
    log("job.failed", job=job.id, error=str(value) if isinstance(value, HubsnapError) else
        (kind.__name__ if kind else "unknown"), final=not job.retries_left)  # fmt: skip


def redis_lease(redis: Redis) -> mirror_api.Lease:
    @contextlib.contextmanager
    def hold(name: str) -> Iterator[None]:
        lock = redis.lock(
            f"{_PREFIX}lease:{name}", timeout=LEASE_SECONDS, blocking_timeout=LEASE_SECONDS
        )
        try:
            acquired = lock.acquire()
        except RedisError as e:
            raise RemoteError(f"Redis did not grant the lease ({type(e).__name__})") from e
        if not acquired:
            raise RemoteError(f"lease on {name} not granted within {LEASE_SECONDS} s")
        try:
            yield
        finally:
            with contextlib.suppress(LockError, RedisError):  # expired: others may hold it
                lock.release()

    return hold


class WorkerContext:
    """What ``hubsnap worker`` sets before it forks work horses (they inherit it)."""

    settings: Settings | None = None
    key: Path | None = None
    transport: TransportOptions | None = None


def run_job(data: dict[str, Any]) -> dict[str, Any]:
    """The RQ job function: one mirror job, in a work horse."""
    settings, key = WorkerContext.settings, WorkerContext.key
    job = get_current_job()
    if settings is None or key is None or job is None:
        raise RuntimeError("run_job runs only in a hubsnap worker")
    spec = JobSpec.from_json(data)
    log("job.started", job=spec.id, repo=spec.repo_id, commit=spec.commit)
    report = mirror_api.mirror(
        settings, repo_id=spec.repo_id, commit=spec.commit,
        selection=selection_from_key(spec.selection), ref=spec.ref,
        prefix=str(data["prefix"]), key=key, lease=redis_lease(job.connection),
        transport=WorkerContext.transport,
    )  # fmt: skip
    log("job.done", job=spec.id, repo=spec.repo_id, commit=spec.commit, digest=report.digest,
        signed=report.signed, bytes_sent=report.bytes_sent)  # fmt: skip
    return {"digest": report.digest, "destination": report.destination}


def run_worker(redis: Redis, settings: Settings, key: Path, *, burst: bool) -> bool:
    """Run jobs until stopped (or, with ``burst``, until the queue is empty)."""
    WorkerContext.settings, WorkerContext.key = settings, key
    worker = Worker(
        [Queue(QUEUE_NAME, connection=redis)], connection=redis,
        job_monitoring_interval=JOB_MONITORING_INTERVAL,
        maintenance_interval=MAINTENANCE_INTERVAL, worker_ttl=WORKER_TTL,
    )  # fmt: skip
    try:
        return bool(worker.work(burst=burst, with_scheduler=True, logging_level="WARNING"))
    except RedisError as e:
        raise RemoteError(f"lost Redis ({type(e).__name__})") from e
