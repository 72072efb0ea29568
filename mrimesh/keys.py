"""The Redis key schema, written down in one place.

Every key this project writes starts with the configured prefix (``mrimesh`` by default):

==============================  ======  ===========================================================
key                             type    what it holds
==============================  ======  ===========================================================
``{p}:job:{job_id}``            hash    the job record (:mod:`mrimesh.jobs`, written only by
                                        :mod:`mrimesh.lifecycle`); expires with the job
``{p}:waiting``                 zset    job ids waiting to start, scored by enqueue order
``{p}:waiting:seq``             string  counter giving each enqueue its place in ``waiting``
``{p}:active``                  zset    job ids being processed, scored by start time (epoch s)
``{p}:expiry``                  zset    every live job id, scored by its expiry time (epoch s)
``{p}:workers``                 zset    worker ids, scored by last heartbeat (epoch s)
``{p}:stats``                   hash    lifetime counters: total, completed, failed, expired, ...
``{p}:stats:daily``             hash    uploads per UTC day, ``YYYY-MM-DD`` -> count
``{p}:stats:failures``          hash    failed jobs per error code (``no_brain`` -> count, ...)
``{p}:timings:jobs``            list    JSON timing records of the last N completed jobs
``{p}:timings:queue_wait``      list    time (s) the last N jobs waited before starting
``{p}:hist:{name}``             hash    cluster-wide Prometheus histogram buckets, sum, count
                                        (``job_seconds``, ``queue_wait_seconds``,
                                        ``step_seconds:{step id}``)
``{p}:ratelimit*``              zset    flask-limiter windows (per client, per client+job)
==============================  ======  ===========================================================

Dramatiq keeps its own keys under its namespace (``dramatiq:*``); we never read its internals.
Data written under an older schema is migrated at start-up (:mod:`mrimesh.migrations`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    """Builds every Redis key from one prefix."""

    prefix: str = "mrimesh"

    def job(self, job_id: str) -> str:
        """Hash holding one job's record."""
        return f"{self.prefix}:job:{job_id}"

    def histogram(self, name: str) -> str:
        """Hash holding one histogram's buckets (see :mod:`mrimesh.histograms`)."""
        return f"{self.prefix}:hist:{name}"

    @property
    def waiting(self) -> str:
        """Sorted set of waiting job ids, in enqueue order."""
        return f"{self.prefix}:waiting"

    @property
    def waiting_seq(self) -> str:
        """Counter giving each enqueue its order."""
        return f"{self.prefix}:waiting:seq"

    @property
    def active(self) -> str:
        """Sorted set of running job ids, scored by start time."""
        return f"{self.prefix}:active"

    @property
    def expiry(self) -> str:
        """Sorted set of live job ids, scored by expiry time."""
        return f"{self.prefix}:expiry"

    @property
    def workers(self) -> str:
        """Sorted set of worker ids, scored by last heartbeat."""
        return f"{self.prefix}:workers"

    @property
    def stats(self) -> str:
        """Hash of lifetime counters."""
        return f"{self.prefix}:stats"

    @property
    def stats_failures(self) -> str:
        """Hash of failed jobs per error code."""
        return f"{self.prefix}:stats:failures"

    @property
    def stats_daily(self) -> str:
        """Hash of uploads per UTC day."""
        return f"{self.prefix}:stats:daily"

    @property
    def timings_jobs(self) -> str:
        """List of the last N JSON timing records, newest first."""
        return f"{self.prefix}:timings:jobs"

    @property
    def timings_remakes(self) -> str:
        """The same for re-makes, kept apart: their steps and durations are a scan's minority."""
        return f"{self.prefix}:timings:remakes"

    def timings_for(self, kind: str | None) -> str:
        """The timing list of jobs of ``kind`` (``JobKind``; None is a scan)."""
        return self.timings_remakes if kind == "remake" else self.timings_jobs

    @property
    def timings_queue_wait(self) -> str:
        """List of the last N queue waits in seconds, newest first."""
        return f"{self.prefix}:timings:queue_wait"
