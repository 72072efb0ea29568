"""Job record transitions against a real Redis."""

from __future__ import annotations

import uuid

from mrimesh.contract import JobStatus
from mrimesh.jobs import JobStore
from mrimesh.stats import StatsReader


def _store(redis_client, settings) -> JobStore:
    return JobStore(redis_client, settings)


def _new(store: JobStore) -> str:
    job_id = str(uuid.uuid4())
    store.create(job_id, input_kind="nifti", input_bytes=10, input_voxels=1000)
    return job_id


def _progress(store: JobStore, job_id: str, step: str, percent: float) -> JobStatus | None:
    return store.report_progress(
        job_id, step=step, fraction=0.5, percent=percent, step_started_at=0.0, completed_steps={}
    )


def test_full_lifecycle_updates_record_stats_and_timings(redis_client, settings) -> None:
    store = _store(redis_client, settings)
    job_id = _new(store)
    assert store.queue_position(job_id) == 1

    started = store.mark_started(job_id, worker_id="w1", step_estimates=None)
    assert started is not None
    record = store.get(job_id)
    assert record.status is JobStatus.PROCESSING
    assert record.attempt == 1
    assert store.queue_position(job_id) is None

    store.mark_completed(
        job_id, result={"structures": []}, step_durations={"Segmenting": 2.0}, voxels=1000
    )
    record = store.get(job_id)
    assert record.status is JobStatus.COMPLETED
    assert record.progress_percent == 100
    stats = StatsReader(redis_client, settings).snapshot()
    assert (stats["total_jobs"], stats["completed_jobs"], stats["active_jobs"]) == (1, 1, 0)
    assert stats["average_processing_time_seconds"] is not None
    history = StatsReader(redis_client, settings).timing_history()
    assert history[0].steps == {"Segmenting": 2.0}


def test_progress_never_goes_down_within_an_attempt(redis_client, settings) -> None:
    store = _store(redis_client, settings)
    job_id = _new(store)
    store.mark_started(job_id, worker_id="w1", step_estimates=None)
    _progress(store, job_id, "Segmenting", 40)
    _progress(store, job_id, "Segmenting", 30)
    assert store.get(job_id).progress_percent == 40


def test_a_late_progress_write_cannot_resurrect_a_cancelled_job(redis_client, settings) -> None:
    store = _store(redis_client, settings)
    job_id = _new(store)
    store.mark_started(job_id, worker_id="w1", step_estimates=None)
    store.mark_cancelled(job_id)

    status = _progress(store, job_id, "Generating meshes", 80)

    assert status is JobStatus.CANCELLED
    record = store.get(job_id)
    assert record.status is JobStatus.CANCELLED
    assert record.current_step is None
    assert store.mark_completed(job_id, result={}, step_durations={}, voxels=1) is None


def test_a_job_can_start_only_once(redis_client, settings) -> None:
    store = _store(redis_client, settings)
    job_id = _new(store)
    assert store.mark_started(job_id, worker_id="w1", step_estimates=None) is not None
    assert store.mark_started(job_id, worker_id="w2", step_estimates=None) is None


def test_retry_puts_the_job_back_in_line_and_keeps_the_attempt(redis_client, settings) -> None:
    store = _store(redis_client, settings)
    first, second = _new(store), _new(store)
    store.mark_started(first, worker_id="w1", step_estimates=None)
    store.mark_retrying(first, reason="Attempt 1 failed: CUDA out of memory")
    record = store.get(first)
    assert record.status is JobStatus.QUEUED
    assert record.attempt == 1
    assert record.retry_reason.startswith("Attempt 1")
    assert (store.queue_position(second), store.queue_position(first)) == (1, 2)


def test_expiry_leaves_a_tombstone_and_counts(redis_client, settings) -> None:
    store = _store(redis_client, settings)
    job_id = _new(store)
    record = store.get(job_id)
    assert store.due_for_expiry(at=record.expires_at - 1) == []
    assert store.due_for_expiry(at=record.expires_at + 1) == [job_id]
    store.mark_expired(job_id)
    assert store.get(job_id).status is JobStatus.EXPIRED
    assert store.queue_position(job_id) is None
    assert redis_client.ttl(store.keys.job(job_id)) <= settings.tombstone_ttl_seconds
    assert StatsReader(redis_client, settings).snapshot()["expired_jobs"] == 1
