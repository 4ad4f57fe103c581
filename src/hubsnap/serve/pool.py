"""The embedded worker pool: ``--concurrency`` threads running jobs from the SQLite queue.

A failed job goes back to the queue with backoff (see :mod:`hubsnap.serve.sqlite_queue`);
a job with nothing to mirror (no model files) ends ``skipped``, logged with its reason and
counted as ``hubsnap_jobs_total{stage="job",result="skipped"}``.
On shutdown the pool stops claiming jobs and waits a grace period for running ones; a job
still running then is handed back by the next start (it is ``running`` in the queue and
becomes ``pending`` again), and finishes without re-sending blobs the registry holds.
"""

from __future__ import annotations

import threading
import time

from hubsnap.api.serve import MirrorSkipped
from hubsnap.errors import ExitCode, HubsnapError
from hubsnap.serve.logs import log
from hubsnap.serve.service import Service
from hubsnap.serve.sqlite_queue import SqliteQueue

__all__ = ["WorkerPool"]

_IDLE_WAIT = 1.0


class WorkerPool:
    def __init__(self, service: Service, queue: SqliteQueue, concurrency: int) -> None:
        self._service = service
        self._queue = queue
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._loop, name=f"hubsnap-worker-{n}", daemon=True)
            for n in range(concurrency)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self, grace: float) -> bool:
        """Stop claiming; wait up to ``grace`` seconds; ``True`` if no job is running."""
        self._stop.set()
        self._queue.wakeup.set()
        deadline = time.monotonic() + grace
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in self._threads)

    def _loop(self) -> None:
        while not self._stop.is_set():
            claimed = self._queue.claim()
            if claimed is None:
                self._queue.wakeup.wait(_IDLE_WAIT)
                self._queue.wakeup.clear()
                continue
            spec = claimed.spec
            log("job.started", job=spec.id, repo=spec.repo_id, commit=spec.commit,
                attempt=claimed.attempts)  # fmt: skip
            started = time.monotonic()
            try:
                report = self._service.run(spec, self._queue.hold)
            except HubsnapError as e:
                # Only a remote failure may pass; a usage or integrity failure stays.
                permanent = e.exit_code not in (ExitCode.REMOTE, ExitCode.NOT_FOUND)
                state = self._queue.fail(spec.id, claimed.attempts, e.message, permanent=permanent)
                self._service.metrics.observe("job", "error", time.monotonic() - started)
                log("job.failed", job=spec.id, error=e.message, state=str(state))
                continue
            except Exception as e:  # a bug: recorded, retried, never kills the worker
                state = self._queue.fail(spec.id, claimed.attempts, type(e).__name__)
                self._service.metrics.observe("job", "error", time.monotonic() - started)
                log("job.crashed", job=spec.id, error=type(e).__name__, state=str(state))
                continue
            if isinstance(report, MirrorSkipped):
                self._queue.skip(spec.id, report.reason)
                self._service.metrics.observe("job", "skipped", time.monotonic() - started)
                log("job.skipped", job=spec.id, repo=spec.repo_id, commit=spec.commit,
                    reason=report.reason)  # fmt: skip
                continue
            self._queue.finish(spec, report.refs)
            self._service.metrics.observe("job", "ok", time.monotonic() - started)
            log("job.done", job=spec.id, repo=spec.repo_id, commit=spec.commit,
                digest=report.digest, destination=report.destination, signed=report.signed,
                ref_tagged=report.ref_tagged, refs=list(report.refs),
                lfs_commits=list(report.lfs_commits), bytes_sent=report.bytes_sent)  # fmt: skip
