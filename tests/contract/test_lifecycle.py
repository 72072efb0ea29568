"""The job lifecycle's transitions, and what follows each, against a real Redis."""

from __future__ import annotations

import uuid

import pytest

from mrimesh.contract import JobStatus
from mrimesh.lifecycle import ALLOWED_FROM, Lifecycle
from mrimesh.outcome import JobOutcome
from mrimesh.stats import StatsReader


def _store(redis_client, settings) -> Lifecycle:
    return Lifecycle(redis_client, settings)


def _new(store: Lifecycle) -> str:
    job_id = str(uuid.uuid4())
    store.create(job_id, input_kind="nifti", input_bytes=10, input_voxels=1000)
    return job_id


def _progress(store: Lifecycle, job_id: str, step: str, percent: float) -> JobStatus | None:
    return store.progress(
        job_id, step=step, fraction=0.5, percent=percent, step_started_at=0.0, completed_steps={}
    )


def test_full_lifecycle_updates_record_stats_and_timings(redis_client, settings) -> None:
    store = _store(redis_client, settings)
    job_id = _new(store)
    assert store.jobs.queue_position(job_id) == 1

    started = store.start(job_id, worker_id="w1")
    assert started is not None
    record = store.jobs.get(job_id)
    assert record.status is JobStatus.PROCESSING
    assert record.attempt == 1
    assert store.jobs.queue_position(job_id) is None

    outcome = JobOutcome(voxels=1000, summary={"structures": []})
    store.complete(job_id, outcome, step_seconds={"segmenting": 2.0})
    record = store.jobs.get(job_id)
    assert record.status is JobStatus.COMPLETED
    assert record.progress_percent == 100
    stats = StatsReader(redis_client, settings).snapshot()
    assert (stats["total_jobs"], stats["completed_jobs"], stats["active_jobs"]) == (1, 1, 0)
    assert stats["average_processing_time_seconds"] is not None
    history = StatsReader(redis_client, settings).timing_history()
    assert history[0].steps == {"segmenting": 2.0}


def test_progress_never_goes_down_within_an_attempt(redis_client, settings) -> None:
    store = _store(redis_client, settings)
    job_id = _new(store)
    store.start(job_id, worker_id="w1")
    _progress(store, job_id, "segmenting", 40)
    _progress(store, job_id, "segmenting", 30)
    assert store.jobs.get(job_id).progress_percent == 40


def test_a_late_progress_write_cannot_resurrect_a_cancelled_job(redis_client, settings) -> None:
    store = _store(redis_client, settings)
    job_id = _new(store)
    store.start(job_id, worker_id="w1")
    store.cancel(job_id)

    status = _progress(store, job_id, "meshing", 80)

    assert status is JobStatus.CANCELLED
    record = store.jobs.get(job_id)
    assert record.status is JobStatus.CANCELLED
    assert record.current_step is None
    assert store.complete(job_id, JobOutcome(voxels=1), step_seconds={}) is None


def test_a_job_can_start_only_once(redis_client, settings) -> None:
    store = _store(redis_client, settings)
    job_id = _new(store)
    assert store.start(job_id, worker_id="w1") is not None
    assert store.start(job_id, worker_id="w2") is None


def test_retry_puts_the_job_back_in_line_and_keeps_the_attempt(redis_client, settings) -> None:
    store = _store(redis_client, settings)
    first, second = _new(store), _new(store)
    store.start(first, worker_id="w1")
    store.retry(first, reason="Attempt 1 failed: CUDA out of memory")
    record = store.jobs.get(first)
    assert record.status is JobStatus.QUEUED
    assert record.attempt == 1
    assert record.retry_reason.startswith("Attempt 1")
    assert (store.jobs.queue_position(second), store.jobs.queue_position(first)) == (1, 2)


def test_expiry_leaves_a_tombstone_and_counts(redis_client, settings) -> None:
    store = _store(redis_client, settings)
    job_id = _new(store)
    record = store.jobs.get(job_id)
    assert store.jobs.due_for_expiry(at=record.expires_at - 1) == []
    assert store.jobs.due_for_expiry(at=record.expires_at + 1) == [job_id]
    store.expire(job_id)
    assert store.jobs.get(job_id).status is JobStatus.EXPIRED
    assert store.jobs.queue_position(job_id) is None
    assert redis_client.ttl(store.keys.job(job_id)) <= settings.tombstone_ttl_seconds
    assert StatsReader(redis_client, settings).snapshot()["expired_jobs"] == 1


def _with_files(store: Lifecycle, settings) -> str:
    job_id = _new(store)
    upload = settings.jobs_dir / job_id / "input" / "upload.nii.gz"
    upload.parent.mkdir(parents=True)
    upload.write_bytes(b"scan")
    return job_id


def _message_count(redis_client, settings) -> int:
    from mrimesh.contract import QUEUE_NAME

    return redis_client.llen(f"{settings.dramatiq_namespace}:{QUEUE_NAME}")


def test_attempts_are_counted_once_and_retried_until_the_limit(redis_client, settings) -> None:
    store = _store(redis_client, settings)
    job_id = _with_files(store, settings)
    for attempt in range(1, settings.max_attempts):
        assert store.start(job_id, worker_id="w1").attempt == attempt
        retried = store.attempt_failed(job_id, reason="CUDA error", code="processing_error")
        # a retry keeps the upload, puts the job back in line and sends a fresh message
        assert retried.status is JobStatus.QUEUED
        assert retried.retry_reason == f"Attempt {attempt} failed: CUDA error"
        assert (settings.jobs_dir / job_id / "input").is_dir()
        assert _message_count(redis_client, settings) == attempt
    store.start(job_id, worker_id="w1")
    failed = store.attempt_failed(job_id, reason="CUDA error", code="processing_error")
    assert failed.status is JobStatus.FAILED
    assert failed.error == "Processing failed 3 times; last error: CUDA error"
    assert not (settings.jobs_dir / job_id).exists()
    assert _message_count(redis_client, settings) == settings.max_attempts - 1
    snapshot = StatsReader(redis_client, settings).snapshot()
    assert snapshot["failed_jobs_by_code"] == {"processing_error": 1}


def test_a_crashed_worker_is_retried_then_failed_as_worker_crashed(redis_client, settings) -> None:
    store = _store(redis_client, settings)
    job_id = _with_files(store, settings)
    for _ in range(settings.max_attempts - 1):
        store.start(job_id, worker_id="w1")
        assert store.worker_lost(job_id).status is JobStatus.QUEUED
    store.start(job_id, worker_id="w1")
    failed = store.worker_lost(job_id)
    assert (failed.status, failed.error_code) == (JobStatus.FAILED, "worker_crashed")
    assert not (settings.jobs_dir / job_id).exists()
    assert store.worker_lost(job_id) is None  # nothing left to recover


def test_cancelling_a_queued_job_deletes_its_files_a_running_one_when_it_stops(
    redis_client, settings
) -> None:
    store = _store(redis_client, settings)
    queued, running = _with_files(store, settings), _with_files(store, settings)
    store.start(running, worker_id="w1")

    assert store.cancel(queued).status is JobStatus.CANCELLED
    assert store.cancel(running).status is JobStatus.CANCELLED

    assert not (settings.jobs_dir / queued).exists()
    assert (settings.jobs_dir / running).exists()  # its worker may still be writing
    assert store.stopped(running) is JobStatus.CANCELLED
    assert not (settings.jobs_dir / running).exists()


def test_a_result_finished_after_a_cancellation_is_deleted(redis_client, settings) -> None:
    store = _store(redis_client, settings)
    job_id = _with_files(store, settings)
    store.start(job_id, worker_id="w1")
    store.cancel(job_id)
    assert store.complete(job_id, JobOutcome(voxels=1), step_seconds={}) is None
    assert not (settings.jobs_dir / job_id).exists()
    assert StatsReader(redis_client, settings).snapshot()["completed_jobs"] == 0


def test_a_requeued_job_keeps_its_upload_when_its_old_attempt_stops(redis_client, settings) -> None:
    store = _store(redis_client, settings)
    job_id = _with_files(store, settings)
    store.start(job_id, worker_id="w1")
    store.worker_lost(job_id)  # the janitor thought the worker dead
    assert store.stopped(job_id) is JobStatus.QUEUED
    assert (settings.jobs_dir / job_id / "input").is_dir()


def test_discard_forgets_an_uploaded_job_uncounted_and_its_files(redis_client, settings) -> None:
    store = _store(redis_client, settings)
    job_id = _with_files(store, settings)
    store.discard(job_id)
    assert store.jobs.get(job_id) is None
    assert not (settings.jobs_dir / job_id).exists()
    assert StatsReader(redis_client, settings).snapshot()["total_jobs"] == 0
    store.discard(job_id)  # twice is harmless
    assert StatsReader(redis_client, settings).snapshot()["total_jobs"] == 0


@pytest.mark.parametrize("name", sorted(ALLOWED_FROM))
def test_each_transition_is_refused_from_any_other_status(redis_client, settings, name) -> None:
    store = _store(redis_client, settings)
    calls = {
        "discard": lambda j: store._transition(j, "discard", lambda p, r: {}),
        "start": lambda j: store.start(j, worker_id="w"),
        "progress": lambda j: (
            store.progress(
                j, step="loading", fraction=0, percent=1, step_started_at=0, completed_steps={}
            )
            is JobStatus.PROCESSING
            or None
        ),
        "heartbeat": lambda j: store.heartbeat(j) or None,
        "complete": lambda j: store.complete(j, JobOutcome(voxels=1), step_seconds={}),
        "retry": lambda j: store.retry(j, reason="x"),
        "fail": lambda j: store.fail(j, code="processing_error", error="x"),
        "cancel": lambda j: store.cancel(j),
        "expire": lambda j: store.expire(j),
    }
    for status in JobStatus:
        job_id = _new(store)
        redis_client.hset(store.keys.job(job_id), "status", status.value)
        applied = calls[name](job_id)
        applied = applied[1] if isinstance(applied, tuple) else applied
        assert (applied is not None) == (status in ALLOWED_FROM[name]), (name, status)


def test_completing_deletes_the_upload_and_keeps_the_results(redis_client, settings) -> None:
    store = _store(redis_client, settings)
    job_id = _with_files(store, settings)
    (settings.jobs_dir / job_id / "result.zip").write_bytes(b"PK")
    store.start(job_id, worker_id="w1")
    store.complete(job_id, JobOutcome(voxels=1), step_seconds={})
    assert store.storage.names(job_id) == ["result.zip"]
