"""The public ``/status`` document: the job record plus queue position and an honest ETA."""

from __future__ import annotations

from typing import Any

from mrimesh.contract import JobStatus
from mrimesh.eta import queued_eta_seconds, running_remaining_seconds
from mrimesh.jobs import JobRecord, JobStore
from mrimesh.stats import StatsReader
from mrimesh.timefmt import iso
from mrimesh.timefmt import now as _now
from mrimesh.timings import TimingModel

#: Queued ETAs look at most this many jobs ahead (beyond that the ETA is a lower bound).
MAX_JOBS_AHEAD_CONSIDERED = 1000


class StatusView:
    """Renders job records for the API."""

    def __init__(self, store: JobStore, stats: StatsReader):
        self.store = store
        self.stats = stats

    def render(self, job_id: str, at: float | None = None) -> dict[str, Any] | None:
        """The ``/status`` JSON for ``job_id``, or ``None`` when the job does not exist."""
        at = _now() if at is None else at
        record = self.store.get(job_id)
        if record is None:
            return None
        position = None
        eta: float | None = None
        if record.status is JobStatus.QUEUED:
            position = self.store.queue_position(job_id)
            eta = self._queued_eta(record, position, at)
        elif record.status is JobStatus.PROCESSING:
            eta = self._running_eta(record, self.stats.timing_model(), at)
        elif record.status is JobStatus.COMPLETED:
            eta = 0.0
        return public_document(record, queue_position=position, eta_seconds=eta)

    def _running_eta(self, record: JobRecord, model: TimingModel, at: float) -> float | None:
        estimates = record.step_estimates or model.step_estimates(record.input_voxels)
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

    def _queued_eta(self, record: JobRecord, position: int | None, at: float) -> float | None:
        model = self.stats.timing_model()
        if not model.has_history or position is None:
            return None
        live_workers = self.stats.workers.live_count(at)
        keys = self.store.keys
        client = self.store.client
        ahead_ids = client.zrange(keys.waiting, 0, min(position - 1, MAX_JOBS_AHEAD_CONSIDERED) - 1)
        running_ids = client.zrange(keys.active, 0, -1)
        pipe = client.pipeline(transaction=False)
        for job_id in ahead_ids:
            pipe.hget(keys.job(_text(job_id)), "input_voxels")
        for job_id in running_ids:
            pipe.hgetall(keys.job(_text(job_id)))
        replies = pipe.execute() if (ahead_ids or running_ids) else []
        ahead_voxels = replies[: len(ahead_ids)]
        running_records = [JobRecord.from_hash(r) for r in replies[len(ahead_ids) :] if r]
        ahead = [model.total_estimate(int(v) if v else None) or 0.0 for v in ahead_voxels]
        running_left = [
            self._running_eta(r, model, at) or 0.0
            for r in running_records
            if r.status is JobStatus.PROCESSING
        ]
        own = model.total_estimate(record.input_voxels) or 0.0
        return queued_eta_seconds(own, ahead, running_left, live_workers)


def public_document(
    record: JobRecord, *, queue_position: int | None, eta_seconds: float | None
) -> dict[str, Any]:
    """The job as the API shows it: the spec's fields first, then ours."""
    completed = record.status is JobStatus.COMPLETED
    return {
        "job_id": record.job_id,
        "status": record.status.value,
        "progress_percent": int(record.progress_percent),
        "current_step": record.current_step if record.status is JobStatus.PROCESSING else None,
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
    }


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
