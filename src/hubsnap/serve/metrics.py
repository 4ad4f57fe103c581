"""Prometheus metrics of ``hubsnap serve`` (``hubsnap_`` names, base units, ``_total``
counters). Labels take only a few fixed values: never a repository name or a digest."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from hubsnap import __version__

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_DURATION_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600)


class _QueueCollector(Collector):
    def __init__(self, depth: Callable[[], int], oldest: Callable[[], float]) -> None:
        self._depth = depth
        self._oldest = oldest

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "hubsnap_queue_depth", "Mirror jobs pending or running.", value=self._depth()
        )
        yield GaugeMetricFamily(
            "hubsnap_oldest_pending_commit_age_seconds",
            "Seconds since the oldest commit not yet mirrored was queued.",
            value=self._oldest(),
        )


class Metrics:
    """One registry per server (so tests can run several in one process)."""

    def __init__(self, depth: Callable[[], int], oldest: Callable[[], float]) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.deliveries = Counter(
            "hubsnap_webhook_deliveries", "Webhook deliveries by result.", ["result"], registry=r
        )
        self.jobs = Counter(
            "hubsnap_jobs", "Job stages run, by stage and result.", ["stage", "result"], registry=r
        )
        self.duration = Histogram(
            "hubsnap_job_duration_seconds", "Time a job stage took.", ["stage"],
            buckets=_DURATION_BUCKETS, registry=r,
        )  # fmt: skip
        self.transfer = Counter(
            "hubsnap_transfer_bytes",
            "Bytes sent to the registry, received from the Hub.",
            ["direction"],
            registry=r,
        )
        self.skipped = Counter(
            "hubsnap_blobs_skipped", "Blobs not uploaded, by reason.", ["reason"], registry=r
        )
        self.reconciles = Counter(
            "hubsnap_reconcile_runs", "Reconciler passes by result.", ["result"], registry=r
        )
        Gauge("hubsnap_build_info", "hubsnap version.", ["version"], registry=r).labels(
            __version__
        ).set(1)
        r.register(_QueueCollector(depth, oldest))

    def observe(self, stage: str, result: str, seconds: float) -> None:
        self.jobs.labels(stage, result).inc()
        self.duration.labels(stage).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
