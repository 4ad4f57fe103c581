"""Fleet scale: jobs on RQ over Redis, run by ``hubsnap worker`` processes anywhere.

RQ forks a work horse per job and keeps a heartbeat while it runs (no visibility timeout that
would redeliver a long push), so a worker killed mid-job leaves its job in the started
registry until the heartbeat expires; maintenance then retries it on another worker. hubsnap
sets every interval itself: job monitoring 10 s, maintenance 30 s, worker TTL 60 s, three
retries (at once, then after 1 and 5 minutes), and an explicit job timeout (RQ's default is 180 s).

"Enqueue once" is hubsnap's: RQ overwrites a job enqueued under an existing id, so the key is
first claimed with an atomic ``SET NX`` and only the claimant enqueues. The claim carries a
short TTL (:data:`CLAIM_TTL`) until the enqueue is confirmed (then it is made permanent, and
the job makes it permanent again when it ends), so an enqueuer that dies between the two steps
leaves a key that frees itself instead of one lost for good; a later claimant that finds the
RQ job there after all only confirms the claim. The key is freed when the job fails for good.
The job id is the hash of the key (``[0-9a-f]``).

Refs: a job records in ``hubsnap:refs:…`` which commit each ref tag it set now names. An event
for a ref whose tag is not at a finished job's commit (a second ref made on a commit already
mirrored) runs that job once more: push and sign are no-ops then, and it sets the tags. A job
with nothing to mirror is marked skipped and never run again by an event.

Workers need no state of the server: the job carries the repository, commit, selection, ref
and destination prefix; the registry is the shared store.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from redis import Redis
from redis.exceptions import LockError, RedisError
from rq import Callback, Queue, Retry, Worker, get_current_job
from rq.job import Job, JobStatus
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
#: Seconds a claimed key waits for its enqueue to be confirmed before it frees itself.
CLAIM_TTL = 60
REOPEN_TTL = 600
_PREFIX = "hubsnap:"
_LIVE = frozenset(
    {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED,
     JobStatus.FINISHED}
)  # fmt: skip


def _claim_key(job_id: str) -> str:
    return f"{_PREFIX}key:{job_id}"


def _refs_key(spec: JobSpec) -> str:
    """Where the commits of one repository-and-selection's ref tags are kept."""
    scope = hashlib.sha256(json.dumps([spec.repo_id, spec.selection]).encode()).hexdigest()
    return f"{_PREFIX}refs:{scope[:32]}"


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

    def __init__(
        self, redis: Redis, *, prefix: str, job_timeout: float, claim_ttl: int = CLAIM_TTL
    ) -> None:
        self.redis = redis
        self.claim_ttl = claim_ttl
        self.queue = Queue(QUEUE_NAME, connection=redis)
        self._prefix = prefix
        self._timeout = int(job_timeout)

    def enqueue(self, spec: JobSpec) -> bool:
        """Queue ``spec`` unless its key is known; ``True`` if that queued work."""
        claim = _claim_key(spec.id)
        try:
            if self.redis.set(claim, spec.key, nx=True, ex=self.claim_ttl):
                return self._submit(spec, claim)
            return self._reopen(spec, claim)
        except RedisError as e:
            raise RemoteError(f"Redis refused the job ({type(e).__name__})") from e

    def _submit(self, spec: JobSpec, claim: str) -> bool:
        """Enqueue under a fresh claim, then make the claim permanent."""
        try:
            job = self.queue.fetch_job(spec.id)
            if job is not None and job.get_status(refresh=False) in _LIVE:
                # A claimant died after enqueueing, before confirming: the job is there.
                self.redis.persist(claim)
                return False
            self._enqueue_job(spec)
        except BaseException:
            self.redis.delete(claim)  # not queued: the next event may queue it
            raise
        self.redis.persist(claim)
        return True

    def _enqueue_job(self, spec: JobSpec, job_id: str | None = None) -> None:
        """Enqueue the RQ job of ``spec`` (under ``job_id``, which tests alone set)."""
        self.queue.enqueue(
            run_job, {**spec.to_json(), "prefix": self._prefix},
            job_id=job_id or spec.id, job_timeout=self._timeout,
            retry=Retry(max=len(RETRY_INTERVALS), interval=list(RETRY_INTERVALS)),
            on_failure=Callback(job_failed),
            result_ttl=7 * 86400, failure_ttl=30 * 86400,
            description=f"mirror {spec.id}",
        )  # fmt: skip

    def _reopen(self, spec: JobSpec, claim: str) -> bool:
        """Run a finished job again when ``spec.ref``'s tag does not name its commit yet."""
        if spec.ref is None or self.redis.exists(_PREFIX + "skipped:" + spec.id):
            return False
        tagged = self.redis.hget(_refs_key(spec), spec.ref)
        if tagged == spec.commit.encode() or self.redis.ttl(claim) != -1:
            return False  # tagged, or the claimant is still enqueueing
        job = self.queue.fetch_job(spec.id)
        if job is not None and job.get_status(refresh=False) is not JobStatus.FINISHED:
            return False  # queued or running: it sets every tag still at its commit
        if not self.redis.set(_PREFIX + "reopen:" + spec.id, 1, nx=True, ex=REOPEN_TTL):
            return False  # another event is reopening it
        self._enqueue_job(spec)
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
        connection.delete(_claim_key(job.id), _PREFIX + "reopen:" + job.id)
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
    lfs_repo: Path | None = None


def run_job(data: dict[str, Any]) -> dict[str, Any]:
    """The RQ job function: one mirror job, in a work horse."""
    settings, key = WorkerContext.settings, WorkerContext.key
    job = get_current_job()
    if settings is None or key is None or job is None:
        raise RuntimeError("run_job runs only in a hubsnap worker")
    spec = JobSpec.from_json(data)
    redis = job.connection
    log("job.started", job=spec.id, repo=spec.repo_id, commit=spec.commit)
    report = mirror_api.mirror(
        settings, repo_id=spec.repo_id, commit=spec.commit,
        selection=selection_from_key(spec.selection), ref=spec.ref,
        prefix=str(data["prefix"]), key=key, lease=redis_lease(redis),
        transport=WorkerContext.transport, lfs_repo=WorkerContext.lfs_repo,
    )  # fmt: skip
    with redis.pipeline() as done:
        done.set(_claim_key(spec.id), spec.key)  # the key stays claimed: the job ran
        done.delete(_PREFIX + "reopen:" + spec.id)
        if isinstance(report, mirror_api.MirrorSkipped):
            done.set(_PREFIX + "skipped:" + spec.id, report.reason)
        elif report.refs:
            done.hset(_refs_key(spec), mapping=dict.fromkeys(report.refs, spec.commit))
        done.execute()
    if isinstance(report, mirror_api.MirrorSkipped):
        log("job.skipped", job=spec.id, repo=spec.repo_id, commit=spec.commit,
            reason=report.reason)  # fmt: skip
        return {"skipped": report.reason}
    log("job.done", job=spec.id, repo=spec.repo_id, commit=spec.commit, digest=report.digest,
        signed=report.signed, refs=list(report.refs), lfs_commits=list(report.lfs_commits),
        bytes_sent=report.bytes_sent)  # fmt: skip
    return {"digest": report.digest, "destination": report.destination}


def run_worker(
    redis: Redis, settings: Settings, key: Path, *, burst: bool, lfs_repo: Path | None = None
) -> bool:
    """Run jobs until stopped (or, with ``burst``, until the queue is empty)."""
    WorkerContext.settings, WorkerContext.key = settings, key
    WorkerContext.lfs_repo = lfs_repo
    worker = Worker(
        [Queue(QUEUE_NAME, connection=redis)], connection=redis,
        job_monitoring_interval=JOB_MONITORING_INTERVAL,
        maintenance_interval=MAINTENANCE_INTERVAL, worker_ttl=WORKER_TTL,
    )  # fmt: skip
    try:
        return bool(worker.work(burst=burst, with_scheduler=True, logging_level="WARNING"))
    except RedisError as e:
        raise RemoteError(f"lost Redis ({type(e).__name__})") from e
