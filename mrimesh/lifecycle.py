"""A job's states, the only transitions between them, and everything that follows each one.

::

               create                 start                   complete
     (none) ──────────▶ queued ──────────────▶ processing ──────────────▶ completed
                 ▲  │   ▲  │                     │   │  │  fail (input error, attempts used
       discard   │  │   │  │ cancel              │   │  │  up, time limit, crashed too often)
    (no message) ┘  │   │  └──────▶ cancelled ◀──┘   │  └──────────────▶ failed
                    │   └──── retry (transient error, worker died) ┘
                    └─ fail (queued, e.g. never startable)
     any state but expired ── expire (24 h after creation) ──▶ expired

Each transition is one atomic change in Redis: a WATCH/MULTI transaction that first checks the
job's status against :data:`ALLOWED_FROM` (``progress`` and ``heartbeat`` are one Lua call each
with the same check), so a late write can never resurrect a cancelled or expired job; a refused
transition returns ``None``. What must follow a transition follows it here and nowhere else:

* counters (``stats``), failures per code (``stats:failures``), histograms (``hist:*``) and the
  timing history (``timings:*``), written in the same transaction;
* the job's stored objects, deleted through :meth:`mrimesh.storage.JobStorage.delete_job` when the
  job can no longer be downloaded (failed, cancelled, expired, discarded);
* a fresh queue message when a job is retried.

Attempts are counted here only: :meth:`Lifecycle.start` adds one, and
:meth:`Lifecycle.attempt_failed` (a transient error) and :meth:`Lifecycle.worker_lost` (a crash)
compare it with ``MRIMESH_MAX_ATTEMPTS`` to retry or fail. The broker does not retry messages.

Callers: the API (create, discard, cancel), the worker middleware (start, progress, complete,
attempt_failed, fail, stopped), the sidecar (heartbeat, time_out), the janitor (expire,
worker_lost, clean_up).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping

import redis
from dramatiq.brokers.redis import RedisBroker

from mrimesh.config import Settings
from mrimesh.contract import JobStatus, actor_of
from mrimesh.enqueue import enqueue_job
from mrimesh.errors import ErrorCode
from mrimesh.jobs import JobRecord, JobStore
from mrimesh.outcome import JobOutcome
from mrimesh.paths import is_job_id
from mrimesh.redis_client import as_text
from mrimesh.stats import StatsReader
from mrimesh.storage import INPUT_PREFIX, JobStorage, StorageError, open_storage
from mrimesh.timefmt import now as _now
from mrimesh.timefmt import utc_day
from mrimesh.timings import JobTiming

logger = logging.getLogger(__name__)

_LIVE = frozenset({JobStatus.QUEUED, JobStatus.PROCESSING})

#: The statuses each transition may start from; from any other it is refused.
ALLOWED_FROM: dict[str, frozenset[JobStatus]] = {
    "discard": frozenset({JobStatus.QUEUED}),
    "start": frozenset({JobStatus.QUEUED}),
    "progress": frozenset({JobStatus.PROCESSING}),
    "heartbeat": frozenset({JobStatus.PROCESSING}),
    "complete": frozenset({JobStatus.PROCESSING}),
    "retry": frozenset({JobStatus.PROCESSING}),
    "fail": _LIVE,
    "cancel": _LIVE,
    "expire": frozenset(set(JobStatus) - {JobStatus.EXPIRED}),
}

#: Statuses whose stored objects are of no more use to anyone.
_FILES_UNWANTED = frozenset({JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.EXPIRED})

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

_HEARTBEAT_SCRIPT = """
if redis.call('HGET', KEYS[1], 'status') ~= 'processing' then return 0 end
redis.call('HSET', KEYS[1], 'heartbeat_at', ARGV[1])
return 1
"""

#: What a transition's writer gets: the pipeline (in MULTI) and the record before the change;
#: it returns the hash fields it set, from which the record after the change is built.
Writer = Callable[[redis.client.Pipeline, JobRecord], Mapping[str, str]]


class Lifecycle:
    """Every change of a job's state, and what follows it. Reading is :class:`JobStore`."""

    def __init__(
        self,
        client: redis.Redis,
        settings: Settings,
        *,
        storage: JobStorage | None = None,
        broker: RedisBroker | None = None,
    ):
        self.client = client
        self.settings = settings
        self.jobs = JobStore(client, settings)
        self.keys = self.jobs.keys
        self.storage = storage if storage is not None else open_storage(settings)
        self._broker = broker
        self._progress = client.register_script(_PROGRESS_SCRIPT)
        self._heartbeat = client.register_script(_HEARTBEAT_SCRIPT)

    @property
    def broker(self) -> RedisBroker:
        """Where retried jobs get their fresh message (built on first use if none was given)."""
        if self._broker is None:
            self._broker = RedisBroker(
                client=self.client, namespace=self.settings.dramatiq_namespace, middleware=[]
            )
        return self._broker

    # -- the API -----------------------------------------------------------------------------
    def create(
        self,
        job_id: str,
        *,
        input_kind: str,
        input_bytes: int,
        input_voxels: int | None,
        kind: str = "scan",
        source_job_id: str | None = None,
        at: float | None = None,
    ) -> JobRecord:
        """(none) → queued: record the job, put it in the waiting line, count the upload.

        A re-make (``kind="remake"``) names the job whose label map it starts from.
        """
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
        if kind != "scan":
            fields["kind"] = kind
        if source_job_id:
            fields["source_job_id"] = source_job_id
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
        """Undo an upload (refused, or its message could not be sent): its stored objects go, and
        a job record, if one was created, goes uncounted. Best effort: a clean-up path never
        raises; what an outage leaves, the janitor's :meth:`clean_up` finds later."""
        self._delete_objects(job_id)

        def forget(pipe: redis.client.Pipeline, _before: JobRecord) -> Mapping[str, str]:
            pipe.delete(self.keys.job(job_id))
            pipe.zrem(self.keys.waiting, job_id)
            pipe.zrem(self.keys.expiry, job_id)
            pipe.hincrby(self.keys.stats, "total_jobs", -1)
            return {}

        try:
            self._transition(job_id, "discard", forget)
        except redis.exceptions.RedisError:
            logger.warning("could not forget the record of discarded job %s", job_id)

    def cancel(self, job_id: str, at: float | None = None) -> JobRecord | None:
        """queued|processing → cancelled. A queued job's objects go now; a running one stops at
        its next step and the worker calls :meth:`stopped`."""
        at = _now() if at is None else at

        def cancel(pipe: redis.client.Pipeline, _before: JobRecord) -> Mapping[str, str]:
            fields = {
                "status": JobStatus.CANCELLED.value,
                "finished_at": repr(at),
                "current_step": "",
                "error": ErrorCode.CANCELLED.message,
                "error_code": ErrorCode.CANCELLED.value,
            }
            pipe.hset(self.keys.job(job_id), mapping=fields)
            pipe.zrem(self.keys.waiting, job_id)
            pipe.zrem(self.keys.active, job_id)
            pipe.hincrby(self.keys.stats, "cancelled_jobs", 1)
            return fields

        before, after = self._transition(job_id, "cancel", cancel)
        if before is not None and before.status is JobStatus.QUEUED:
            self._delete_objects(job_id)
        return after

    # -- the worker --------------------------------------------------------------------------
    def start(self, job_id: str, *, worker_id: str, at: float | None = None) -> JobRecord | None:
        """queued → processing: count the attempt, leave the waiting line, time the wait, store
        the per-step estimates for this job's size (from the timing history)."""
        at = _now() if at is None else at
        reader = StatsReader(self.client, self.settings)
        # a re-make's steps and durations come from re-makes' own history (issue 11)
        models = {kind: reader.timing_model(kind) for kind in ("scan", "remake")}

        def start(pipe: redis.client.Pipeline, before: JobRecord) -> Mapping[str, str]:
            model = models["remake" if before.kind == "remake" else "scan"]
            step_estimates = model.step_estimates(before.input_voxels)
            fields = {
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
                "attempt": str(before.attempt + 1),
            }
            pipe.hset(self.keys.job(job_id), mapping=fields)
            pipe.hdel(self.keys.job(job_id), "retry_reason")
            pipe.zrem(self.keys.waiting, job_id)
            pipe.zadd(self.keys.active, {job_id: at})
            if before.queued_at is not None:
                wait = max(at - before.queued_at, 0.0)
                pipe.lpush(self.keys.timings_queue_wait, round(wait, 3))
                pipe.ltrim(self.keys.timings_queue_wait, 0, self.settings.timing_window - 1)
                self.jobs.histogram("queue_wait_seconds").observe(pipe, wait)
            return {**fields, "retry_reason": ""}

        return self._transition(job_id, "start", start)[1]

    def progress(
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
        """processing → processing, one round trip: the current step (its id), how far it is,
        the finished steps' seconds, a never-decreasing percentage and a heartbeat. Returns the
        job's status as Redis holds it, so the worker notices a cancellation."""
        at = _now() if at is None else at
        status = self._progress(
            keys=[self.keys.job(job_id)],
            args=[
                round(min(max(percent, 0.0), 100.0), 1),
                "current_step",
                str(step),
                "step_fraction",
                round(fraction, 4),
                "step_started_at",
                repr(step_started_at),
                "completed_steps",
                json.dumps({str(k): round(v, 3) for k, v in completed_steps.items()}),
                "heartbeat_at",
                repr(at),
            ],
        )
        text = as_text(status)
        return JobStatus(text) if text else None

    def heartbeat(self, job_id: str, at: float | None = None) -> bool:
        """Refresh a processing job's heartbeat; False when it is not processing."""
        at = _now() if at is None else at
        return bool(self._heartbeat(keys=[self.keys.job(job_id)], args=[repr(at)]))

    def complete(
        self,
        job_id: str,
        outcome: JobOutcome,
        *,
        step_seconds: Mapping[str, float],
        start_gap: float | None = None,
        at: float | None = None,
    ) -> JobRecord | None:
        """processing → completed: the result, the timing history, the histograms; the upload
        goes (no patient data is kept beyond what the job needs). When the job left
        ``processing`` meanwhile (cancelled, expired), the results just written go."""
        at = _now() if at is None else at
        steps = {str(k): float(v) for k, v in step_seconds.items()}

        def complete(pipe: redis.client.Pipeline, before: JobRecord) -> Mapping[str, str]:
            duration = max(at - (before.started_at or at), 0.0)
            timing = JobTiming(
                total_seconds=duration,
                voxels=outcome.voxels,
                steps=steps,
                start_gap_seconds=None if start_gap is None else round(start_gap, 3),
            )
            fields = {
                "status": JobStatus.COMPLETED.value,
                "finished_at": repr(at),
                "progress_percent": "100",
                "current_step": "",
                "duration_seconds": repr(round(duration, 3)),
                "completed_steps": json.dumps(steps),
                "input_voxels": str(outcome.voxels),
                "result": json.dumps(dict(outcome.summary)),
            }
            pipe.hset(self.keys.job(job_id), mapping=fields)
            pipe.zrem(self.keys.active, job_id)
            pipe.hincrby(self.keys.stats, "completed_jobs", 1)
            timings = self.keys.timings_for(before.kind)  # re-makes have their own history
            pipe.lpush(timings, timing.to_json())
            pipe.ltrim(timings, 0, self.settings.timing_window - 1)
            self.jobs.histogram("job_seconds").observe(pipe, duration)
            for step, seconds in steps.items():
                self.jobs.histogram(f"step_seconds:{step}").observe(pipe, seconds)
            return fields

        after = self._transition(job_id, "complete", complete)[1]
        if after is None:
            self.stopped(job_id)
        else:
            self._delete_upload(job_id)
        return after

    def fail(
        self,
        job_id: str,
        *,
        code: ErrorCode,
        error: str | None = None,
        at: float | None = None,
    ) -> JobRecord | None:
        """queued|processing → failed for good, with a reason a person can read (``error``, or
        the code's own words); counted per code; the job's objects go."""
        at = _now() if at is None else at
        code = ErrorCode(code)
        error = error or code.message

        def fail(pipe: redis.client.Pipeline, before: JobRecord) -> Mapping[str, str]:
            fields = {
                "status": JobStatus.FAILED.value,
                "finished_at": repr(at),
                "current_step": "",
                "error": error,
                "error_code": code.value,
            }
            if before.started_at is not None:
                fields["duration_seconds"] = repr(round(max(at - before.started_at, 0.0), 3))
            pipe.hset(self.keys.job(job_id), mapping=fields)
            pipe.zrem(self.keys.active, job_id)
            pipe.zrem(self.keys.waiting, job_id)
            pipe.hincrby(self.keys.stats, "failed_jobs", 1)
            pipe.hincrby(self.keys.stats_failures, code.value, 1)
            return fields

        after = self._transition(job_id, "fail", fail)[1]
        if after is not None:
            self._delete_objects(job_id)
        return after

    def retry(self, job_id: str, *, reason: str, at: float | None = None) -> JobRecord | None:
        """processing → queued at the back of the line, keeping the upload, with a fresh queue
        message; the attempt number stays (it grows at the next start)."""
        at = _now() if at is None else at

        def requeue(pipe: redis.client.Pipeline, _before: JobRecord) -> Mapping[str, str]:
            seq = self.client.incr(self.keys.waiting_seq)
            fields = {
                "status": JobStatus.QUEUED.value,
                "queued_at": repr(at),
                "current_step": "",
                "progress_percent": "0",
                "retry_reason": reason,
            }
            pipe.hset(self.keys.job(job_id), mapping=fields)
            pipe.zrem(self.keys.active, job_id)
            pipe.zadd(self.keys.waiting, {job_id: seq})
            return fields

        after = self._transition(job_id, "retry", requeue)[1]
        if after is not None:
            enqueue_job(self.broker, job_id, actor_of(after.kind))
        return after

    def attempt_failed(
        self, job_id: str, *, reason: str, code: ErrorCode, at: float | None = None
    ) -> JobRecord | None:
        """A transient error ended the running attempt: retry, or fail once every attempt is
        used (``"Processing failed N times; last error: ..."``)."""
        return self._retry_or_fail(
            job_id,
            retry_reason=lambda n: f"Attempt {n} failed: {reason}",
            failure=lambda n: f"Processing failed {n} times; last error: {reason}",
            code=code,
            at=at,
        )

    def worker_lost(self, job_id: str, at: float | None = None) -> JobRecord | None:
        """The running attempt's worker died: retry, or fail as ``worker_crashed`` once every
        attempt is used."""
        return self._retry_or_fail(
            job_id,
            retry_reason=lambda n: f"The worker stopped unexpectedly during attempt {n}.",
            failure=lambda n: (
                f"The worker crashed {n} times while processing this scan; "
                "it was stopped to protect the service."
            ),
            code=ErrorCode.WORKER_CRASHED,
            at=at,
        )

    def time_out(self, job_id: str, at: float | None = None) -> JobRecord | None:
        """processing → failed as ``timeout``: the attempt ran past the time limit."""
        limit = self.settings.job_time_limit_seconds
        return self.fail(
            job_id,
            code=ErrorCode.TIMEOUT,
            error=f"Processing took longer than the {limit} s limit and was stopped.",
            at=at,
        )

    def stopped(self, job_id: str) -> JobStatus | None:
        """A worker stopped a job that left ``processing`` under it: the objects of a job that
        was cancelled, expired, failed or deleted go; a requeued job keeps its upload. Returns
        the job's status now (``None``: gone)."""
        record = self.jobs.get(job_id)
        if record is None or record.status in _FILES_UNWANTED:
            self._delete_objects(job_id)
        return None if record is None else record.status

    # -- the janitor -------------------------------------------------------------------------
    def expire(self, job_id: str, at: float | None = None) -> JobRecord | None:
        """any but expired → expired: a tombstone answering ``expired`` for a while; the job's
        objects go (also when it was already a tombstone, or gone)."""
        at = _now() if at is None else at

        def expire(pipe: redis.client.Pipeline, _before: JobRecord) -> Mapping[str, str]:
            key = self.keys.job(job_id)
            pipe.hset(key, mapping={"status": JobStatus.EXPIRED.value, "current_step": ""})
            pipe.hdel(key, "result", "worker_id")
            pipe.expireat(key, int(at + self.settings.tombstone_ttl_seconds))
            pipe.zrem(self.keys.waiting, job_id)
            pipe.zrem(self.keys.active, job_id)
            pipe.zrem(self.keys.expiry, job_id)
            pipe.hincrby(self.keys.stats, "expired_jobs", 1)
            return {"status": JobStatus.EXPIRED.value, "current_step": "", "result": ""}

        after = self._transition(job_id, "expire", expire)[1]
        if after is None:
            self.client.zrem(self.keys.expiry, job_id)
        self._delete_objects(job_id)
        return after

    def clean_up(self, job_id: str) -> bool:
        """Delete the objects of a job nobody can download any more (no record, failed,
        cancelled, expired): what a crash left behind. True when they were deleted."""
        record = self.jobs.get(job_id)
        if record is not None and record.status not in _FILES_UNWANTED:
            return False
        self._delete_objects(job_id)
        return True

    def forget_inactive(self, job_id: str) -> None:
        """Drop an id from the running set when its record no longer says ``processing``."""
        record = self.jobs.get(job_id)
        if record is None or record.status is not JobStatus.PROCESSING:
            self.client.zrem(self.keys.active, job_id)

    # -- internals ---------------------------------------------------------------------------
    def _retry_or_fail(
        self,
        job_id: str,
        *,
        retry_reason: Callable[[int], str],
        failure: Callable[[int], str],
        code: ErrorCode,
        at: float | None,
    ) -> JobRecord | None:
        """The one place attempts are compared with the limit."""
        record = self.jobs.get(job_id)
        if record is None or record.status is not JobStatus.PROCESSING:
            return None
        if record.attempt >= self.settings.max_attempts:
            return self.fail(job_id, code=code, error=failure(record.attempt), at=at)
        return self.retry(job_id, reason=retry_reason(record.attempt), at=at)

    def _delete_upload(self, job_id: str) -> None:
        try:
            for name in self.storage.names(job_id):
                if name.startswith(INPUT_PREFIX):
                    self.storage.delete(job_id, name)
        except StorageError:  # it goes with the rest when the job expires
            logger.warning("could not delete the upload of job %s", job_id, exc_info=True)

    def _delete_objects(self, job_id: str) -> None:
        if not is_job_id(job_id):
            return
        try:
            self.storage.delete_job(job_id)
        except StorageError:  # the janitor's clean_up tries again
            logger.warning("could not delete the objects of job %s", job_id, exc_info=True)

    def _transition(
        self, job_id: str, name: str, write: Writer
    ) -> tuple[JobRecord | None, JobRecord | None]:
        """Apply ``write`` atomically if the job exists and its status allows transition
        ``name``; returns the record before and after (both ``None`` when refused)."""
        key = self.keys.job(job_id)
        allowed = ALLOWED_FROM[name]
        applied: list[tuple[JobRecord, dict[bytes | str, bytes | str]]] = []

        def attempt(pipe: redis.client.Pipeline) -> None:
            applied.clear()
            raw = pipe.hgetall(key)
            if not raw:
                return
            before = JobRecord.from_hash(raw)
            if before.status not in allowed:
                return
            pipe.multi()
            fields = write(pipe, before)
            applied.append((before, {**raw, **fields}))

        self.client.transaction(attempt, key)
        if not applied:
            return None, None
        before, raw_after = applied[-1]
        return before, JobRecord.from_hash(raw_after)
