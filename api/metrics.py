"""Prometheus metrics read from Redis at scrape time, so every gunicorn process agrees."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from mrimesh.contract import STEP_IDS
from mrimesh.jobs import JobStore
from mrimesh.stats import StatsReader


class RedisStatsCollector(Collector):
    """Exposes job counters, queue length, live workers and duration histograms."""

    def __init__(self, jobs: JobStore, stats: StatsReader):
        self.jobs = jobs
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        """Read Redis (two round trips) and yield metric families."""
        snap = self.stats.snapshot()
        finished = CounterMetricFamily(
            "mrimesh_jobs_finished",
            "Jobs that reached a final state, by status.",
            labels=["status"],
        )
        for status in ("completed", "failed", "cancelled", "expired"):
            finished.add_metric([status], snap[f"{status}_jobs"])
        yield finished
        yield CounterMetricFamily(
            "mrimesh_jobs_created", "Jobs accepted.", value=snap["total_jobs"]
        )
        failed = CounterMetricFamily(
            "mrimesh_jobs_failed", "Jobs that failed, by error code.", labels=["code"]
        )
        for code, count in snap["failed_jobs_by_code"].items():
            failed.add_metric([code], count)
        yield failed
        current = GaugeMetricFamily("mrimesh_jobs", "Jobs by current state.", labels=["status"])
        current.add_metric(["queued"], snap["queued_jobs"])
        current.add_metric(["processing"], snap["processing_jobs"])
        yield current
        yield GaugeMetricFamily(
            "mrimesh_queue_length", "Jobs waiting to start.", value=snap["queued_jobs"]
        )
        yield GaugeMetricFamily(
            "mrimesh_live_workers", "Workers heard from recently.", value=snap["live_workers"]
        )
        names = ["job_seconds", "queue_wait_seconds"] + [f"step_seconds:{s}" for s in STEP_IDS]
        histograms = [self.jobs.histogram(name) for name in names]
        pipe = self.jobs.client.pipeline(transaction=False)
        for histogram in histograms:
            pipe.hgetall(histogram.key)
        read = [h.parse(stored) for h, stored in zip(histograms, pipe.execute(), strict=True)]
        yield _histogram("mrimesh_job_duration_seconds", "Processing time of jobs.", read[0])
        yield _histogram("mrimesh_queue_wait_seconds", "Time jobs waited before starting.", read[1])
        steps = HistogramMetricFamily(
            "mrimesh_step_duration_seconds", "Time per pipeline step, by step id.", labels=["step"]
        )
        for step, (buckets, total) in zip(STEP_IDS, read[2:], strict=True):
            steps.add_metric([step], buckets, total)
        yield steps


def _histogram(
    metric: str, documentation: str, read: tuple[list[tuple[str, float]], float]
) -> HistogramMetricFamily:
    family = HistogramMetricFamily(metric, documentation)
    family.add_metric([], *read)
    return family
