"""The job record in Redis and every state transition it goes through.

A job is one Redis hash (``{prefix}:job:{id}``). Transitions run as WATCH/MULTI transactions that
first check the current status, so a late write from a worker can never resurrect a cancelled or
expired job. Progress writes, the hot path, are one Lua call each.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import redis

from mrimesh.config import Settings
from mrimesh.contract import JobStatus
from mrimesh.histograms import JOB_SECONDS_BUCKETS, STEP_SECONDS_BUCKETS, RedisHistogram
from mrimesh.keys import Keys
from mrimesh.redis_client import as_text
from mrimesh.timefmt import now as _now
from mrimesh.timefmt import utc_day
from mrimesh.timings import JobTiming

# Sets progress fields only while the job is processing; progress never goes down within an
# attempt. Returns the job's status so the caller can notice a cancellation.
_PROGRESS_SCRIPT = """
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'processing' then return status or '' end
local old = tonumber(redis.call('HGET', KEYS[1], 'progress_percent') or '0') or 0
local new = tonumber(ARGV[1])
if new < old then new = old end
redis.call('HSET', KEYS[1], 'progress_percent', tostring(new))
for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
return status
"""

_TOUCH_SCRIPT = """
if redis.call('HGET', KEYS[1], 'status') ~= 'processing' then return 0 end
redis.call('HSET', KEYS[1], 'heartbeat_at', ARGV[1])
return 1
"""


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
            current_step=h.get("current_step") or None,
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
            step_estimates=_json(h.get("step_estimates")),
            completed_steps=_json(h.get("completed_steps")) or {},
            duration_seconds=_float(h.get("duration_seconds")),
            result=_json(h.get("result")),
        )


class JobStore:
    """Reads and transitions job records; the only code that writes them."""

    def __init__(self, client: redis.Redis, settings: Settings):
        self.client = client
        self.settings = settings
        self.keys = Keys(settings.key_prefix)
        self._progress = client.register_script(_PROGRESS_SCRIPT)
        self._touch = client.register_script(_TOUCH_SCRIPT)

    # -- reading ---------------------------------------------------------------------------
    def get(self, job_id: str) -> JobRecord | None:
        """The job's record, or ``None`` when no such job exists (any more)."""
        raw = self.client.hgetall(self.keys.job(job_id))
        return JobRecord.from_hash(raw) if raw else None

    def queue_position(self, job_id: str) -> int | None:
        """1 for the next job to start, ``None`` when the job is not waiting."""
        rank = self.client.zrank(self.keys.waiting, job_id)
        return None if rank is None else int(rank) + 1

    # -- creation --------------------------------------------------------------------------
    def create(
        self,
        job_id: str,
        *,
        input_kind: str,
        input_bytes: int,
        input_voxels: int | None,
        at: float | None = None,
    ) -> JobRecord:
        """Record a new queued job, put it in the waiting line and count it."""
        at = _now() if at is None else at
        expires_at = at + self.settings.job_ttl_seconds
        seq = self.client.incr(self.keys.waiting_seq)
        fields = {
            "job_id": job_id,
            "status": JobStatus.QUEUED.value,
            "created_at": repr(at),
            "queued_at": repr(at),
            "expires_at": repr(expires_at),
            "attempt": "0",
            "max_attempts": str(self.settings.max_attempts),
            "progress_percent": "0",
            "input_kind": input_kind,
            "input_bytes": str(input_bytes),
        }
        if input_voxels:
            fields["input_voxels"] = str(input_voxels)
        key = self.keys.job(job_id)
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(key, mapping=fields)
        pipe.expireat(key, int(expires_at + self.settings.tombstone_ttl_seconds))
        pipe.zadd(self.keys.waiting, {job_id: seq})
        pipe.zadd(self.keys.expiry, {job_id: expires_at})
        pipe.hincrby(self.keys.stats, "total_jobs", 1)
        pipe.hincrby(self.keys.stats_daily, utc_day(at), 1)
        pipe.execute()
        return JobRecord.from_hash(fields)

    def discard(self, job_id: str) -> None:
        """Undo :meth:`create` for a job that could not be enqueued."""
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(self.keys.job(job_id))
        pipe.zrem(self.keys.waiting, job_id)
        pipe.zrem(self.keys.expiry, job_id)
        pipe.hincrby(self.keys.stats, "total_jobs", -1)
        pipe.execute()

    # -- worker transitions ----------------------------------------------------------------
    def mark_started(
        self,
        job_id: str,
        *,
        worker_id: str,
        step_estimates: Mapping[str, float] | None,
        at: float | None = None,
    ) -> JobRecord | None:
        """Move a queued job to processing and count the attempt; ``None`` if it may not run."""
        at = _now() if at is None else at

        def start(pipe: redis.client.Pipeline, record: JobRecord) -> None:
            pipe.hset(
                self.keys.job(job_id),
                mapping={
                    "status": JobStatus.PROCESSING.value,
                    "started_at": repr(at),
                    "heartbeat_at": repr(at),
                    "worker_id": worker_id,
                    "progress_percent": "0",
                    "current_step": "",
                    "step_fraction": "0",
                    "step_started_at": repr(at),
                    "completed_steps": "{}",
                    "step_estimates": json.dumps(step_estimates) if step_estimates else "",
                    "attempt": str(record.attempt + 1),
                },
            )
            pipe.hdel(self.keys.job(job_id), "retry_reason")
            pipe.zrem(self.keys.waiting, job_id)
            pipe.zadd(self.keys.active, {job_id: at})
            if record.queued_at is not None:
                wait = max(at - record.queued_at, 0.0)
                pipe.lpush(self.keys.timings_queue_wait, round(wait, 3))
                pipe.ltrim(self.keys.timings_queue_wait, 0, self.settings.timing_window - 1)
                self.histogram("queue_wait_seconds").observe(pipe, wait)

        return self._transition(job_id, {JobStatus.QUEUED}, start)

    def report_progress(
        self,
        job_id: str,
        *,
        step: str,
        fraction: float,
        percent: float,
        step_started_at: float,
        completed_steps: Mapping[str, float],
        at: float | None = None,
    ) -> JobStatus | None:
        """Write progress in one round trip; returns the job's status as Redis holds it."""
        at = _now() if at is None else at
        status = self._progress(
            keys=[self.keys.job(job_id)],
            args=[
                round(min(max(percent, 0.0), 100.0), 1),
                "current_step",
                step,
                "step_fraction",
                round(fraction, 4),
                "step_started_at",
                repr(step_started_at),
                "completed_steps",
                json.dumps({k: round(v, 3) for k, v in completed_steps.items()}),
                "heartbeat_at",
                repr(at),
            ],
        )
        text = as_text(status)
        return JobStatus(text) if text else None

    def touch(self, job_id: str, at: float | None = None) -> bool:
        """Refresh a processing job's heartbeat; False when it is not processing."""
        return bool(
            self._touch(keys=[self.keys.job(job_id)], args=[repr(_now() if at is None else at)])
        )

    def mark_completed(
        self,
        job_id: str,
        *,
        result: Mapping[str, Any],
        step_durations: Mapping[str, float],
        voxels: int,
        start_gap: float | None = None,
        at: float | None = None,
    ) -> JobRecord | None:
        """Finish a processing job successfully and add it to the timing history."""
        at = _now() if at is None else at

        def complete(pipe: redis.client.Pipeline, record: JobRecord) -> None:
            duration = max(at - (record.started_at or at), 0.0)
            timing = JobTiming(
                total_seconds=duration,
                voxels=voxels,
                steps=step_durations,
                start_gap_seconds=None if start_gap is None else round(start_gap, 3),
            )
            pipe.hset(
                self.keys.job(job_id),
                mapping={
                    "status": JobStatus.COMPLETED.value,
                    "finished_at": repr(at),
                    "progress_percent": "100",
                    "current_step": "",
                    "duration_seconds": repr(round(duration, 3)),
                    "completed_steps": json.dumps(dict(step_durations)),
                    "input_voxels": str(voxels),
                    "result": json.dumps(result),
                },
            )
            pipe.zrem(self.keys.active, job_id)
            pipe.hincrby(self.keys.stats, "completed_jobs", 1)
            pipe.lpush(self.keys.timings_jobs, timing.to_json())
            pipe.ltrim(self.keys.timings_jobs, 0, self.settings.timing_window - 1)
            self.histogram("job_seconds").observe(pipe, duration)
            for step, seconds in step_durations.items():
                self.histogram(f"step_seconds:{step}").observe(pipe, seconds)

        return self._transition(job_id, {JobStatus.PROCESSING}, complete)

    def mark_failed(
        self,
        job_id: str,
        *,
        error: str,
        code: str,
        at: float | None = None,
    ) -> JobRecord | None:
        """Fail a queued or processing job for good, with a reason a person can read."""
        at = _now() if at is None else at

        def fail(pipe: redis.client.Pipeline, record: JobRecord) -> None:
            mapping = {
                "status": JobStatus.FAILED.value,
                "finished_at": repr(at),
                "current_step": "",
                "error": error,
                "error_code": code,
            }
            if record.started_at is not None:
                mapping["duration_seconds"] = repr(round(max(at - record.started_at, 0.0), 3))
            pipe.hset(self.keys.job(job_id), mapping=mapping)
            pipe.zrem(self.keys.active, job_id)
            pipe.zrem(self.keys.waiting, job_id)
            pipe.hincrby(self.keys.stats, "failed_jobs", 1)
            pipe.hincrby(self.keys.stats_failures, code, 1)

        return self._transition(job_id, {JobStatus.QUEUED, JobStatus.PROCESSING}, fail)

    def mark_retrying(
        self, job_id: str, *, reason: str, at: float | None = None
    ) -> JobRecord | None:
        """Put a processing job back in the waiting line after a transient failure."""
        at = _now() if at is None else at

        def requeue(pipe: redis.client.Pipeline, _record: JobRecord) -> None:
            seq = self.client.incr(self.keys.waiting_seq)
            pipe.hset(
                self.keys.job(job_id),
                mapping={
                    "status": JobStatus.QUEUED.value,
                    "queued_at": repr(at),
                    "current_step": "",
                    "progress_percent": "0",
                    "retry_reason": reason,
                },
            )
            pipe.zrem(self.keys.active, job_id)
            pipe.zadd(self.keys.waiting, {job_id: seq})

        return self._transition(job_id, {JobStatus.PROCESSING}, requeue)

    # -- user and janitor transitions ------------------------------------------------------
    def mark_cancelled(self, job_id: str, at: float | None = None) -> JobRecord | None:
        """Cancel a queued or running job; a running one stops at its next step boundary."""
        at = _now() if at is None else at

        def cancel(pipe: redis.client.Pipeline, _record: JobRecord) -> None:
            pipe.hset(
                self.keys.job(job_id),
                mapping={
                    "status": JobStatus.CANCELLED.value,
                    "finished_at": repr(at),
                    "current_step": "",
                    "error": "Cancelled at your request.",
                    "error_code": "cancelled",
                },
            )
            pipe.zrem(self.keys.waiting, job_id)
            pipe.zrem(self.keys.active, job_id)
            pipe.hincrby(self.keys.stats, "cancelled_jobs", 1)

        return self._transition(job_id, {JobStatus.QUEUED, JobStatus.PROCESSING}, cancel)

    def mark_expired(self, job_id: str, at: float | None = None) -> JobRecord | None:
        """Turn a job past its expiry into a tombstone that answers ``expired``."""
        at = _now() if at is None else at
        allowed = set(JobStatus) - {JobStatus.EXPIRED}

        def expire(pipe: redis.client.Pipeline, _record: JobRecord) -> None:
            key = self.keys.job(job_id)
            pipe.hset(key, mapping={"status": JobStatus.EXPIRED.value, "current_step": ""})
            pipe.hdel(key, "result", "worker_id")
            pipe.expireat(key, int(at + self.settings.tombstone_ttl_seconds))
            pipe.zrem(self.keys.waiting, job_id)
            pipe.zrem(self.keys.active, job_id)
            pipe.zrem(self.keys.expiry, job_id)
            pipe.hincrby(self.keys.stats, "expired_jobs", 1)

        return self._transition(job_id, allowed, expire)

    def due_for_expiry(self, at: float | None = None, limit: int = 500) -> list[str]:
        """Ids of jobs whose expiry time has passed."""
        at = _now() if at is None else at
        ids = self.client.zrangebyscore(self.keys.expiry, "-inf", at, start=0, num=limit)
        return [as_text(i) for i in ids]

    def histogram(self, name: str) -> RedisHistogram:
        """A histogram: ``job_seconds``, ``queue_wait_seconds`` or ``step_seconds:<step>``."""
        buckets = STEP_SECONDS_BUCKETS if name.startswith("step_seconds:") else JOB_SECONDS_BUCKETS
        return RedisHistogram(self.keys.histogram(name), buckets)

    # -- internals -------------------------------------------------------------------------
    def _transition(
        self,
        job_id: str,
        allowed_from: set[JobStatus],
        write: Callable[[redis.client.Pipeline, JobRecord], object],
    ) -> JobRecord | None:
        """Apply ``write`` atomically if the job exists and its status is in ``allowed_from``."""
        key = self.keys.job(job_id)
        applied: list[JobRecord] = []

        def attempt(pipe: redis.client.Pipeline) -> None:
            raw = pipe.hgetall(key)
            if not raw:
                return
            record = JobRecord.from_hash(raw)
            if record.status not in allowed_from:
                return
            pipe.multi()
            write(pipe, record)
            applied.append(record)

        self.client.transaction(attempt, key)
        return applied[-1] if applied else None


def _float(value: str | None) -> float | None:
    return float(value) if value not in (None, "") else None


def _json(value: str | None) -> Any:
    return json.loads(value) if value else None
