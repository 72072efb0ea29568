"""Prometheus-style histograms kept in Redis: every worker adds to one cluster-wide series.

A histogram is a hash ``{prefix}:hist:{name}`` with one field per cumulative bucket
(``le:<bound>``), plus ``sum`` and ``count``. Workers observe; the API's ``/metrics`` reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import redis

from mrimesh.redis_client import as_text

#: Bucket bounds (s) for whole-job and queue-wait durations.
JOB_SECONDS_BUCKETS: tuple[float, ...] = (5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600)
#: Bucket bounds (s) for single steps.
STEP_SECONDS_BUCKETS: tuple[float, ...] = (0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300)


@dataclass(frozen=True)
class RedisHistogram:
    """One histogram series stored in a Redis hash."""

    key: str
    buckets: Sequence[float]

    def observe(self, pipe: redis.client.Pipeline, value: float) -> None:
        """Queue the commands that record ``value`` on ``pipe``."""
        for bound in self.buckets:
            if value <= bound:
                pipe.hincrby(self.key, f"le:{bound:g}", 1)
        pipe.hincrby(self.key, "le:+Inf", 1)
        pipe.hincrbyfloat(self.key, "sum", value)
        pipe.hincrby(self.key, "count", 1)

    def parse(
        self, stored: Mapping[bytes | str, bytes | str]
    ) -> tuple[list[tuple[str, float]], float]:
        """Cumulative ``(bound, count)`` pairs ending with ``+Inf``, and the sum of values, from
        the hash as HGETALL returned it (``/metrics`` reads every histogram in one pipeline)."""
        raw = {as_text(k): float(as_text(v)) for k, v in stored.items()}
        pairs = [(f"{b:g}", raw.get(f"le:{b:g}", 0.0)) for b in self.buckets]
        pairs.append(("+Inf", raw.get("le:+Inf", 0.0)))
        return pairs, raw.get("sum", 0.0)
