"""Lifetime counters and rolling timings, as ``/stats`` and the ETA model read them."""

from __future__ import annotations

import statistics
from typing import Any

import redis

from mrimesh.config import Settings
from mrimesh.contract import STEP_IDS
from mrimesh.keys import Keys
from mrimesh.redis_client import as_text
from mrimesh.timings import JobTiming, TimingModel
from mrimesh.workers import WorkerRegistry

_COUNTERS = ("total_jobs", "completed_jobs", "failed_jobs", "expired_jobs", "cancelled_jobs")


class StatsReader:
    """Builds the ``/stats`` document and the timing model from Redis."""

    def __init__(self, client: redis.Redis, settings: Settings):
        self.client = client
        self.settings = settings
        self.keys = Keys(settings.key_prefix)
        self.workers = WorkerRegistry(client, settings)

    def timing_history(self, kind: str | None = None) -> list[JobTiming]:
        """The last N finished jobs' timings (of ``kind``: scans by default), newest first."""
        return parse_history(
            self.client.lrange(self.keys.timings_for(kind), 0, self.settings.timing_window - 1)
        )

    def timing_model(self, kind: str | None = None) -> TimingModel:
        """Per-step estimates from the rolling history of jobs of ``kind``."""
        return TimingModel(self.timing_history(kind))

    def snapshot(self, at: float | None = None) -> dict[str, Any]:
        """Everything ``/stats`` shows, read in one round trip."""
        window = self.settings.timing_window - 1
        pipe = self.client.pipeline(transaction=False)
        pipe.hgetall(self.keys.stats)
        pipe.zcard(self.keys.waiting)
        pipe.zcard(self.keys.active)
        pipe.lrange(self.keys.timings_jobs, 0, window)
        pipe.lrange(self.keys.timings_queue_wait, 0, window)
        pipe.hgetall(self.keys.stats_daily)
        pipe.hgetall(self.keys.stats_failures)
        pipe.zcount(self.keys.workers, self.workers.live_cutoff(at), "+inf")
        counters, queued, processing, timings, waits, daily, failures, live = pipe.execute()
        counts = {as_text(k): as_text(v) for k, v in counters.items()}
        history = parse_history(timings)
        durations = [h.total_seconds for h in history]
        queue_waits = [float(w) for w in waits]
        per_step = {
            step: round(statistics.fmean(h.steps[step] for h in history if step in h.steps), 3)
            for step in STEP_IDS
            if any(step in h.steps for h in history)
        }
        snapshot: dict[str, Any] = {name: int(float(counts.get(name, 0))) for name in _COUNTERS}
        snapshot.update(
            {
                "active_jobs": int(queued) + int(processing),
                "queued_jobs": int(queued),
                "processing_jobs": int(processing),
                "average_processing_time_seconds": (
                    round(statistics.fmean(durations), 2) if durations else None
                ),
                "median_processing_time_seconds": (
                    round(statistics.median(durations), 2) if durations else None
                ),
                "average_queue_wait_seconds": (
                    round(statistics.fmean(queue_waits), 2) if queue_waits else None
                ),
                "timing_window_jobs": len(durations),
                "average_step_seconds": per_step,
                "failed_jobs_by_code": dict(
                    sorted((as_text(k), int(as_text(v))) for k, v in failures.items())
                ),
                "live_workers": int(live),
                "files_per_day": dict(
                    sorted((as_text(k), int(as_text(v))) for k, v in daily.items())
                ),
            }
        )
        return snapshot


def parse_history(raw: list[bytes | str]) -> list[JobTiming]:
    """The readable entries of the ``timings:jobs`` list, in its order."""
    return [t for t in (JobTiming.from_json(r) for r in raw) if t is not None]
