"""The job record in Redis, and reading it.

A job is one Redis hash (``{prefix}:job:{id}``). Every change to it is a transition of
:mod:`mrimesh.lifecycle`; this module only reads. Records written before steps had ids (labels in
``current_step``, ``completed_steps`` and ``step_estimates``) read as ids.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import redis

from mrimesh.config import Settings
from mrimesh.contract import JobStatus, step_id
from mrimesh.histograms import JOB_SECONDS_BUCKETS, STEP_SECONDS_BUCKETS, RedisHistogram
from mrimesh.keys import Keys
from mrimesh.redis_client import as_text
from mrimesh.timefmt import now as _now


@dataclass
class JobRecord:
    """Typed view of one job hash."""

    job_id: str
    status: JobStatus
    created_at: float
    expires_at: float
    queued_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    heartbeat_at: float | None = None
    error: str | None = None
    error_code: str | None = None
    current_step: str | None = None
    step_fraction: float = 0.0
    step_started_at: float | None = None
    progress_percent: float = 0.0
    attempt: int = 0
    max_attempts: int = 0
    input_kind: str | None = None
    input_bytes: int = 0
    input_voxels: int | None = None
    worker_id: str | None = None
    retry_reason: str | None = None
    step_estimates: dict[str, float] | None = None
    completed_steps: dict[str, float] = field(default_factory=dict)
    duration_seconds: float | None = None
    result: dict[str, Any] | None = None
    #: ``scan`` (an upload) or ``remake`` (meshes from an earlier job's label map)
    kind: str = "scan"
    #: the job a re-make starts from
    source_job_id: str | None = None

    @classmethod
    def from_hash(cls, raw: Mapping[bytes | str, bytes | str]) -> JobRecord:
        """Parse a hash as returned by HGETALL."""
        h = {as_text(k): as_text(v) for k, v in raw.items()}
        return cls(
            job_id=h["job_id"],
            status=JobStatus(h["status"]),
            created_at=float(h["created_at"]),
            expires_at=float(h["expires_at"]),
            queued_at=_float(h.get("queued_at")),
            started_at=_float(h.get("started_at")),
            finished_at=_float(h.get("finished_at")),
            heartbeat_at=_float(h.get("heartbeat_at")),
            error=h.get("error") or None,
            error_code=h.get("error_code") or None,
            current_step=step_id(h["current_step"]) if h.get("current_step") else None,
            step_fraction=_float(h.get("step_fraction")) or 0.0,
            step_started_at=_float(h.get("step_started_at")),
            progress_percent=_float(h.get("progress_percent")) or 0.0,
            attempt=int(h.get("attempt") or 0),
            max_attempts=int(h.get("max_attempts") or 0),
            input_kind=h.get("input_kind") or None,
            input_bytes=int(h.get("input_bytes") or 0),
            input_voxels=int(h["input_voxels"]) if h.get("input_voxels") else None,
            worker_id=h.get("worker_id") or None,
            retry_reason=h.get("retry_reason") or None,
            step_estimates=_by_step_id(_json(h.get("step_estimates"))),
            completed_steps=_by_step_id(_json(h.get("completed_steps"))) or {},
            duration_seconds=_float(h.get("duration_seconds")),
            result=_json(h.get("result")),
            kind=h.get("kind") or "scan",
            source_job_id=h.get("source_job_id") or None,
        )


class JobStore:
    """Reads job records; :class:`mrimesh.lifecycle.Lifecycle` is the only code that writes them."""

    def __init__(self, client: redis.Redis, settings: Settings):
        self.client = client
        self.settings = settings
        self.keys = Keys(settings.key_prefix)

    def get(self, job_id: str) -> JobRecord | None:
        """The job's record, or ``None`` when no such job exists (any more)."""
        raw = self.client.hgetall(self.keys.job(job_id))
        return JobRecord.from_hash(raw) if raw else None

    def queue_position(self, job_id: str) -> int | None:
        """1 for the next job to start, ``None`` when the job is not waiting."""
        rank = self.client.zrank(self.keys.waiting, job_id)
        return None if rank is None else int(rank) + 1

    def active_ids(self) -> list[str]:
        """Ids of the jobs the running set holds (each may have left ``processing`` since)."""
        return [as_text(i) for i in self.client.zrange(self.keys.active, 0, -1)]

    def due_for_expiry(self, at: float | None = None, limit: int = 500) -> list[str]:
        """Ids of jobs whose expiry time has passed."""
        at = _now() if at is None else at
        ids = self.client.zrangebyscore(self.keys.expiry, "-inf", at, start=0, num=limit)
        return [as_text(i) for i in ids]

    def histogram(self, name: str) -> RedisHistogram:
        """A histogram: ``job_seconds``, ``queue_wait_seconds`` or ``step_seconds:<step id>``."""
        buckets = STEP_SECONDS_BUCKETS if name.startswith("step_seconds:") else JOB_SECONDS_BUCKETS
        return RedisHistogram(self.keys.histogram(name), buckets)


def _float(value: str | None) -> float | None:
    return float(value) if value not in (None, "") else None


def _json(value: str | None) -> Any:
    return json.loads(value) if value else None


def _by_step_id(steps: dict[str, float] | None) -> dict[str, float] | None:
    return None if steps is None else {step_id(k): v for k, v in steps.items()}
