"""Which workers are alive: each refreshes its score in a sorted set every few seconds."""

from __future__ import annotations

import redis

from mrimesh.config import Settings
from mrimesh.keys import Keys
from mrimesh.redis_client import as_text
from mrimesh.timefmt import now as _now


class WorkerRegistry:
    """Heartbeats of worker processes."""

    def __init__(self, client: redis.Redis, settings: Settings):
        self.client = client
        self.settings = settings
        self.keys = Keys(settings.key_prefix)

    def beat(self, worker_id: str, at: float | None = None) -> None:
        """Say that ``worker_id`` is alive now."""
        self.client.zadd(self.keys.workers, {worker_id: _now() if at is None else at})

    def leave(self, worker_id: str) -> None:
        """Remove a worker that shuts down cleanly."""
        self.client.zrem(self.keys.workers, worker_id)

    def live_ids(self, at: float | None = None) -> list[str]:
        """Workers heard from within the timeout."""
        ids = self.client.zrangebyscore(self.keys.workers, self.live_cutoff(at), "+inf")
        return [as_text(i) for i in ids]

    def live_cutoff(self, at: float | None = None) -> float:
        """Heartbeat score below which a worker counts as gone (for ZCOUNT in a pipeline)."""
        return (_now() if at is None else at) - self.settings.worker_timeout_seconds

    def prune(self, at: float | None = None) -> int:
        """Forget workers silent for ten timeouts; returns how many were dropped."""
        at = _now() if at is None else at
        cutoff = at - 10 * self.settings.worker_timeout_seconds
        return int(self.client.zremrangebyscore(self.keys.workers, "-inf", cutoff))
