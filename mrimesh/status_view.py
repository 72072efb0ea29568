"""The public ``/status`` document: the job record plus queue position and an honest ETA."""

from __future__ import annotations

import statistics
import threading
from dataclasses import dataclass
from typing import Any

from mrimesh.contract import JobStatus, step_label
from mrimesh.eta import queued_eta_seconds, running_remaining_seconds, speed_factor
from mrimesh.jobs import JobRecord, JobStore
from mrimesh.redis_client import as_text
from mrimesh.stats import StatsReader, parse_history
from mrimesh.timefmt import iso
from mrimesh.timefmt import now as _now
from mrimesh.timings import TimingModel

#: Queued ETAs look at most this many jobs ahead (beyond that the ETA is a lower bound).
MAX_JOBS_AHEAD_CONSIDERED = 1000


@dataclass(frozen=True)
class QueueSnapshot:
    """The waiting line and the running jobs at one moment, shared by many status requests."""

    taken_at: float
    expected_seconds: list[float]
    running_left_seconds: list[float]
    live_workers: int
    #: How much slower than their history the running jobs go (1.0 = as expected); queued
    #: jobs will share the same machines, so their estimates are scaled by it.
    slowdown: float
    model: TimingModel
    #: re-makes' own history (their steps are a fraction of a scan's)
    remake_model: TimingModel | None = None

    def model_for(self, kind: str | None) -> TimingModel:
        """The timing model of jobs of ``kind``."""
        if kind == "remake" and self.remake_model is not None:
            return self.remake_model
        return self.model


class StatusView:
    """Renders job records for the API.

    Queued ETAs need the whole line ahead of a job; one snapshot of it is built at most every
    ``snapshot_seconds`` per process and shared by all requests, so hundreds of pollers cost a
    handful of Redis round trips per second, not one per job ahead per request.
    """

    def __init__(self, store: JobStore, stats: StatsReader, snapshot_seconds: float = 1.0):
        self.store = store
        self.stats = stats
        self.snapshot_seconds = snapshot_seconds
        self._snapshot: QueueSnapshot | None = None
        self._lock = threading.Lock()

    def render(self, job_id: str, at: float | None = None) -> dict[str, Any] | None:
        """The ``/status`` JSON for ``job_id``, or ``None`` when the job does not exist."""
        at = _now() if at is None else at
        record = self.store.get(job_id)
        if record is None:
            return None
        position = None
        eta: float | None = None
        if record.status is JobStatus.QUEUED:
            position, eta = self._queued(record, at)
        elif record.status is JobStatus.PROCESSING:
            # step estimates are stored at start; a job started before any history existed
            # uses the model of the shared snapshot (rebuilt at most once a second per process)
            model = (
                None if record.step_estimates else self._queue_snapshot(at).model_for(record.kind)
            )
            eta = _running_eta(record, model, at)
        elif record.status is JobStatus.COMPLETED:
            eta = 0.0
        return public_document(record, queue_position=position, eta_seconds=eta)

    def _queued(self, record: JobRecord, at: float) -> tuple[int | None, float | None]:
        position = self.store.queue_position(record.job_id)  # always exact, O(log n)
        if position is None:
            return None, None
        snapshot = self._queue_snapshot(at)
        model = snapshot.model_for(record.kind)
        if not model.has_history:
            return position, None
        estimate = model.total_estimate(record.input_voxels) or 0.0
        own = (estimate + snapshot.model.slot_overhead) * snapshot.slowdown
        eta = queued_eta_seconds(
            own,
            [seconds * snapshot.slowdown for seconds in snapshot.expected_seconds[: position - 1]],
            snapshot.running_left_seconds,
            snapshot.live_workers,
        )
        return position, eta

    def _queue_snapshot(self, at: float) -> QueueSnapshot:
        with self._lock:
            current = self._snapshot
            if current and 0 <= at - current.taken_at < self.snapshot_seconds:
                return current
            self._snapshot = self._take_snapshot(at)
            return self._snapshot

    def _take_snapshot(self, at: float) -> QueueSnapshot:
        keys, client = self.store.keys, self.store.client
        pipe = client.pipeline(transaction=False)
        pipe.zrange(keys.waiting, 0, MAX_JOBS_AHEAD_CONSIDERED - 1)
        pipe.zrange(keys.active, 0, -1)
        pipe.lrange(keys.timings_jobs, 0, self.stats.settings.timing_window - 1)
        pipe.zcount(keys.workers, self.stats.workers.live_cutoff(at), "+inf")
        pipe.lrange(keys.timings_remakes, 0, self.stats.settings.timing_window - 1)
        waiting_ids, running_ids, history, live_workers, remakes = pipe.execute()
        waiting = [as_text(i) for i in waiting_ids]
        pipe = client.pipeline(transaction=False)
        for job_id in waiting:
            pipe.hmget(keys.job(job_id), "input_voxels", "kind")
        for job_id in running_ids:
            pipe.hgetall(keys.job(as_text(job_id)))
        replies = pipe.execute() if (waiting or running_ids) else []
        model = TimingModel(parse_history(history))
        remake_model = TimingModel(parse_history(remakes))
        waiting_fields = replies[: len(waiting)]
        running = [
            r
            for r in (JobRecord.from_hash(r) for r in replies[len(waiting) :] if r)
            if r.status is JobStatus.PROCESSING
        ]
        factors = [
            speed_factor(r.step_estimates, r.completed_steps)
            for r in running
            if r.step_estimates and r.completed_steps
        ]
        return QueueSnapshot(
            taken_at=at,
            expected_seconds=[
                (
                    (remake_model if as_text(k) == "remake" else model).total_estimate(
                        int(v) if v else None
                    )
                    or 0.0
                )
                + model.slot_overhead
                for v, k in (f or (None, None) for f in waiting_fields)
            ],
            running_left_seconds=[
                _running_eta(r, remake_model if r.kind == "remake" else model, at) or 0.0
                for r in running
            ],
            live_workers=int(live_workers),
            slowdown=statistics.median(factors) if factors else 1.0,
            model=model,
            remake_model=remake_model,
        )


def _running_eta(record: JobRecord, model: TimingModel | None, at: float) -> float | None:
    estimates = record.step_estimates or (model and model.step_estimates(record.input_voxels))
    if not estimates:
        return None
    step_elapsed = max(at - (record.step_started_at or record.started_at or at), 0.0)
    return running_remaining_seconds(
        estimates,
        record.current_step,
        record.step_fraction,
        step_elapsed,
        record.completed_steps,
    )


def public_document(
    record: JobRecord, *, queue_position: int | None, eta_seconds: float | None
) -> dict[str, Any]:
    """The job as the API shows it: the spec's fields first, then ours. ``current_step`` is the
    step as a person reads it, ``current_step_id`` its stable id."""
    completed = record.status is JobStatus.COMPLETED
    step = record.current_step if record.status is JobStatus.PROCESSING else None
    return {
        "job_id": record.job_id,
        "status": record.status.value,
        "progress_percent": int(record.progress_percent),
        "current_step": step_label(step),
        "current_step_id": step,
        "queue_position": queue_position,
        "eta_seconds": None if eta_seconds is None else round(eta_seconds, 1),
        "created_at": iso(record.created_at),
        "started_at": iso(record.started_at),
        "finished_at": iso(record.finished_at),
        "expires_at": iso(record.expires_at),
        "error": record.error,
        "error_code": record.error_code,
        "attempt": record.attempt,
        "max_attempts": record.max_attempts,
        "retrying": record.status is JobStatus.QUEUED and record.attempt > 0,
        "retry_reason": record.retry_reason,
        "duration_seconds": record.duration_seconds,
        "download_url": f"/download/{record.job_id}" if completed else None,
        "result": record.result if completed else None,
        "kind": record.kind,
        "source_job_id": record.source_job_id,
        "meshes_url": f"/jobs/{record.job_id}/meshes" if completed else None,
    }
