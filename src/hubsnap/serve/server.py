"""Runs ``hubsnap serve``: the app under uvicorn, the reconciler thread and, in the embedded
mode, the worker pool. SIGTERM (uvicorn's handler) stops accepting deliveries; running jobs
get a grace period, and any still running are handed back to the next start."""

from __future__ import annotations

import signal
import threading
from dataclasses import dataclass
from types import FrameType

import uvicorn

from hubsnap.config import Settings
from hubsnap.serve.app import create_app
from hubsnap.serve.logs import log
from hubsnap.serve.pool import WorkerPool
from hubsnap.serve.rq_queue import RqQueue, connect
from hubsnap.serve.service import MirrorConfig, Queue, Service
from hubsnap.serve.sqlite_queue import SqliteQueue

__all__ = ["ServerOptions", "run_server"]

_SHUTDOWN_GRACE = 30.0


@dataclass(frozen=True)
class ServerOptions:
    host: str
    port: int
    secret: str | None
    poll_interval: float
    concurrency: int
    queue_url: str | None
    job_timeout: float


def _reconciler(service: Service, interval: float, stop: threading.Event) -> None:
    full = True  # at start: every watched repository, changed since the last run or not
    while not stop.is_set():
        service.reconcile(full=full)
        full = False
        stop.wait(interval)


def _stopped(sig: int, frame: FrameType | None) -> None:
    """Signals that arrive after uvicorn has shut down: the stop is already under way."""


def run_server(settings: Settings, config: MirrorConfig, options: ServerOptions) -> None:
    queue: Queue
    sqlite: SqliteQueue | None = None
    if options.queue_url is not None:
        queue = RqQueue(
            connect(options.queue_url), prefix=config.prefix, job_timeout=options.job_timeout
        )
    else:
        # Destination names stay bound to their Hub ids in the server's own database.
        sqlite = SqliteQueue(settings.home / "serve")
        queue = sqlite
    service = Service(settings, config, queue)
    pool = WorkerPool(service, sqlite, options.concurrency) if sqlite is not None else None
    stop = threading.Event()
    reconciler = threading.Thread(
        target=_reconciler, args=(service, options.poll_interval, stop),
        name="hubsnap-reconciler", daemon=True,
    )  # fmt: skip
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(service, options.secret), host=options.host, port=options.port,
            access_log=False, log_level="warning", lifespan="off",
            limit_concurrency=256, timeout_graceful_shutdown=10,
        )
    )  # fmt: skip
    log("serve.start", host=options.host, port=options.port, watch=list(config.watch),
        queue="redis" if options.queue_url else "sqlite")  # fmt: skip
    if pool is not None:
        pool.start()
    reconciler.start()
    # uvicorn restores the handlers it found and re-raises the signal once it has shut down:
    # these make that a no-op, so a graceful stop ends with exit 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _stopped)
    try:
        server.run()
    finally:
        stop.set()
        idle = pool.stop(_SHUTDOWN_GRACE) if pool is not None else True
        reconciler.join(1.0)
        log("serve.stop", handed_back=not idle)
        if idle:  # else a job thread still uses it: the next start hands its job back
            queue.close()
