"""What the server decides: which jobs a delivery means, what the reconciler queues, and
how the embedded workers run a job. The HTTP layer (:mod:`hubsnap.serve.app`) only reads,
checks and answers."""

from __future__ import annotations

import fnmatch
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from hubsnap.api import serve as mirror_api
from hubsnap.api.session import TransportOptions
from hubsnap.config import Settings
from hubsnap.errors import HubsnapError, NotFoundError, UsageError
from hubsnap.hub import HubClient
from hubsnap.serve.jobs import JobSpec, selection_from_key
from hubsnap.serve.logs import log
from hubsnap.serve.metrics import Metrics
from hubsnap.serve.payload import WebhookPayload

__all__ = ["Ignored", "MirrorConfig", "Queue", "Service"]


class Queue(Protocol):
    def enqueue(self, spec: JobSpec) -> bool: ...
    def depth(self) -> int: ...
    def oldest_pending_age(self) -> float: ...
    def claim_name(self, destination: str, repo_id: str) -> bool: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class MirrorConfig:
    """What every job of this server shares."""

    prefix: str
    watch: tuple[str, ...]
    selection: str = "full"
    key: Path | None = None
    transport: TransportOptions | None = None
    lfs_repo: Path | None = None


@dataclass(frozen=True)
class Ignored:
    reason: str


@dataclass
class Service:
    settings: Settings
    config: MirrorConfig
    queue: Queue
    metrics: Metrics = field(init=False)
    _reconcile_lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _local: threading.local = field(default_factory=threading.local, init=False)

    def __post_init__(self) -> None:
        self.metrics = Metrics(self.queue.depth, self.queue.oldest_pending_age)

    def _hub(self) -> HubClient:
        """This thread's Hub client, kept for its connection pool (deliveries come in bursts)."""
        client: HubClient | None = getattr(self._local, "hub", None)
        if client is None:
            client = HubClient.from_settings(self.settings)
            self._local.hub = client
        return client

    def watched(self, repo_id: str) -> bool:
        return any(fnmatch.fnmatchcase(repo_id, p) for p in self.config.watch)

    def plan(self, payload: WebhookPayload) -> list[JobSpec] | Ignored:
        """The jobs a delivery means, with every ref re-resolved on the Hub."""
        if not payload.known_scope:
            return Ignored("unknown scope")
        if payload.scope.startswith("discussion"):
            return Ignored("discussion event")
        if payload.scope != "repo.content":
            return Ignored("no content change")
        repo = payload.repo
        if repo.type != "model":
            return Ignored("not a model repository")
        if not self.watched(repo.name):
            return Ignored("repository not watched")
        names = [mirror_api.ref_name(r.ref) for r in payload.updated_refs if r.new_sha]
        if not payload.updated_refs:
            names = ["main"]
        wanted = [n for n in dict.fromkeys(names) if n is not None]
        if not wanted:
            return Ignored("no branch or tag updated")
        try:
            heads = mirror_api.list_refs(self._hub(), repo.name)
        except NotFoundError:
            return Ignored("repository not found on the Hub")
        specs = [
            JobSpec(repo.name, heads[name], self.config.selection, name)
            for name in wanted
            if name in heads
        ]
        return specs or Ignored("ref not found on the Hub")

    def submit(self, specs: Sequence[JobSpec]) -> tuple[list[str], int]:
        """Queue each job once; ``(ids, how many were new)``."""
        added = 0
        for spec in specs:
            dest = mirror_api.destination(self.config.prefix, spec.repo_id)
            if not self.queue.claim_name(dest, spec.repo_id):
                raise NameCollision(f"{dest} already mirrors another Hub repository")
            if self.queue.enqueue(spec):
                added += 1
                log("job.queued", job=spec.id, repo=spec.repo_id, commit=spec.commit)
        return [s.id for s in specs], added

    def reconcile(self, *, full: bool = False) -> int:
        """Queue every watched branch and tag head not yet mirrored; how many were new.

        A pass polls the repositories changed on the Hub since the last one; a ``full`` pass
        (a server's first) polls every watched repository, so that jobs which failed before
        a restart are queued again even when their repository has not changed since."""
        if not self._reconcile_lock.acquire(blocking=False):
            return 0
        new = failed = 0
        try:
            repos = mirror_api.watched_repositories(self.settings, self.config.watch, full=full)
            with HubClient.from_settings(self.settings) as client:
                for repo_id in repos:
                    try:  # one repository's failure leaves the others mirrored
                        refs = mirror_api.list_refs(client, repo_id)
                        new += self.submit(
                            [
                                JobSpec(repo_id, commit, self.config.selection, name)
                                for name, commit in sorted(refs.items())
                            ]
                        )[1]
                    except HubsnapError as e:
                        failed += 1
                        log("reconcile.repository_failed", repo=repo_id, error=e.message)
            self.metrics.reconciles.labels("ok" if not failed else "partial").inc()
            log("reconcile.done", repositories=len(repos), queued=new, failed=failed)
        except HubsnapError as e:
            self.metrics.reconciles.labels("error").inc()
            log("reconcile.failed", error=e.message)
        finally:
            self._reconcile_lock.release()
        return new

    def run(
        self, spec: JobSpec, lease: mirror_api.Lease
    ) -> mirror_api.MirrorReport | mirror_api.MirrorSkipped:
        """Run one job in this process (the embedded workers)."""
        if self.config.key is None:
            raise RuntimeError("run needs a signing key")
        report = mirror_api.mirror(
            self.settings, repo_id=spec.repo_id, commit=spec.commit,
            selection=selection_from_key(spec.selection), ref=spec.ref,
            prefix=self.config.prefix, key=self.config.key, lease=lease,
            observe=self.metrics.observe, transport=self.config.transport,
            lfs_repo=self.config.lfs_repo,
        )  # fmt: skip
        if isinstance(report, mirror_api.MirrorSkipped):
            return report
        self.metrics.transfer.labels("sent").inc(report.bytes_sent)
        self.metrics.transfer.labels("received").inc(report.bytes_received)
        self.metrics.skipped.labels("present").inc(report.blobs_present)
        self.metrics.skipped.labels("mounted").inc(report.blobs_mounted)
        return report


class NameCollision(UsageError):
    """Two Hub ids map to one OCI repository name: refused, never merged."""
