"""The progress middleware with a real Dramatiq worker and a real Redis.

The actor bodies here are the tests' own: they call ``report_step`` exactly as the pipeline does,
so what is under test is the middleware, the job record and the API's view of it.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Iterator

import dramatiq
import nibabel as nib
import numpy as np
import pytest
from dramatiq import Worker
from dramatiq.brokers.redis import RedisBroker

from gpu_worker.middleware import JobProgress
from gpu_worker.progress import report_step, step
from mrimesh.config import Settings
from mrimesh.contract import ACTOR_NAME, QUEUE_NAME, STEP_IDS
from mrimesh.outcome import JobOutcome
from mrimesh.redis_client import connect
from mrimesh.workers import WorkerRegistry


class BadScanError(Exception):
    code = "no_brain"


@pytest.fixture
def fast_settings(settings: Settings) -> Settings:
    return Settings.from_env({}, **{**settings.__dict__, "progress_write_interval_seconds": 0.0})


@pytest.fixture
def run_worker(fast_settings: Settings) -> Iterator[Callable[[Callable[[str], object]], None]]:
    """Start an in-process Dramatiq worker whose ``process_job`` actor runs ``body``."""
    workers: list[Worker] = []

    def start(body: Callable[[str], object]) -> None:
        client = connect(fast_settings.redis_url)
        progress = JobProgress(fast_settings, client, input_errors=(BadScanError,))
        WorkerRegistry(client, fast_settings).beat(progress.worker_id)
        broker = RedisBroker(
            client=client,
            namespace=fast_settings.dramatiq_namespace,
            middleware=[progress],
        )
        dramatiq.actor(body, broker=broker, actor_name=ACTOR_NAME, queue_name=QUEUE_NAME)
        worker = Worker(broker, worker_threads=1, worker_timeout=100)
        worker.start()
        workers.append(worker)

    yield start
    for worker in workers:
        worker.stop()


def _upload(client, brain_2mm) -> str:
    response = client.post(
        "/upload",
        data={"file": (io.BytesIO(brain_2mm.read_bytes()), "scan.nii.gz")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 202
    return response.get_json()["job_id"]


def _wait(client, job_id: str, predicate, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    body: dict = {}
    while time.monotonic() < deadline:
        body = client.get(f"/status/{job_id}").get_json()
        if predicate(body):
            return body
        time.sleep(0.05)
    raise AssertionError(f"status never matched; last: {body}")


def test_status_includes_progress(client, brain_2mm, run_worker) -> None:
    # Given a worker whose job pauses halfway through "Segmenting"
    halfway, release = threading.Event(), threading.Event()

    def body(job_id: str) -> JobOutcome:
        for step_id in STEP_IDS:
            with step(step_id):  # as the pipeline declares its steps
                if step_id == "segmenting":
                    report_step(step_id, 0.5)
                    halfway.set()
                    release.wait(10)
        return JobOutcome(voxels=1000, summary={"structures": []})

    run_worker(body)
    job_id = _upload(client, brain_2mm)

    # When the job is halfway through segmentation
    assert halfway.wait(10)
    status = _wait(client, job_id, lambda b: b["current_step_id"] == "segmenting")

    # Then /status shows the step, a percentage between the ends and when it started
    assert status["status"] == "processing"
    assert status["current_step"] == "Segmenting"  # the words people read
    assert 0 < status["progress_percent"] < 100
    assert status["queue_position"] is None
    assert status["started_at"] is not None
    assert status["attempt"] == 1
    assert status["eta_seconds"] is None  # first job ever: no history, no invented number

    release.set()
    done = _wait(client, job_id, lambda b: b["status"] == "completed")
    assert done["progress_percent"] == 100
    assert done["download_url"] == f"/download/{job_id}"
    stats = client.get("/stats").get_json()
    assert stats["completed_jobs"] == 1
    assert set(stats["average_step_seconds"]) == set(STEP_IDS)
    assert stats["live_workers"] == 1
    assert stats["timing_window_jobs"] == 1
    assert stats["average_processing_time_seconds"] == stats["median_processing_time_seconds"] > 0
    # and the operators' scrape counts the job in every histogram
    metrics = client.get("/metrics").get_data(as_text=True)
    assert "mrimesh_job_duration_seconds_count 1.0" in metrics
    assert "mrimesh_queue_wait_seconds_count 1.0" in metrics
    assert 'mrimesh_step_duration_seconds_count{step="segmenting"} 1.0' in metrics


def test_second_job_gets_an_eta_from_the_first(client, brain_2mm, run_worker) -> None:
    gate = threading.Event()

    def body(job_id: str) -> JobOutcome:
        for step_id in STEP_IDS:
            report_step(step_id, 0.0)
            time.sleep(0.05)
            if step_id == "meshing" and not gate.is_set():
                gate.wait(10)
            report_step(step_id, 1.0)
        return JobOutcome(voxels=voxels)

    voxels = int(np.prod(nib.load(str(brain_2mm)).shape[:3]))
    gate.set()
    run_worker(body)
    first = _upload(client, brain_2mm)
    _wait(client, first, lambda b: b["status"] == "completed")
    gate.clear()

    second = _upload(client, brain_2mm)
    status = _wait(client, second, lambda b: b["current_step_id"] == "meshing")
    assert status["eta_seconds"] is not None
    assert 0 <= status["eta_seconds"] < 2
    gate.set()
    _wait(client, second, lambda b: b["status"] == "completed")


def test_bad_input_fails_at_once_with_its_reason(client, brain_2mm, run_worker) -> None:
    calls: list[str] = []

    def body(job_id: str) -> None:
        calls.append(job_id)
        report_step("loading", 0.0)
        raise BadScanError("This scan does not look like a head MRI.")

    run_worker(body)
    job_id = _upload(client, brain_2mm)
    status = _wait(client, job_id, lambda b: b["status"] == "failed")
    assert status["error"] == "This scan does not look like a head MRI."
    assert status["error_code"] == "no_brain"
    time.sleep(0.3)
    assert calls == [job_id]  # never retried
    stats = client.get("/stats").get_json()
    assert stats["failed_jobs"] == 1
    # operators see why jobs fail, in /stats and in the Prometheus scrape
    assert stats["failed_jobs_by_code"] == {"no_brain": 1}
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'mrimesh_jobs_failed_total{code="no_brain"} 1.0' in metrics


def test_transient_errors_are_retried_then_fail_with_the_count(
    client, brain_2mm, run_worker
) -> None:
    attempts: list[int] = []

    def body(job_id: str) -> None:
        attempts.append(1)
        report_step("segmenting", 0.1)
        raise RuntimeError("CUDA error: device-side assert")

    run_worker(body)
    job_id = _upload(client, brain_2mm)
    status = _wait(client, job_id, lambda b: b["status"] == "failed")
    assert len(attempts) == 3
    assert status["attempt"] == 3
    assert "failed 3 times" in status["error"]
    assert "CUDA error" in status["error"]


def test_a_full_disk_fails_the_job_with_a_plain_reason_after_its_retries(
    client, brain_2mm, run_worker
) -> None:
    def body(job_id: str) -> None:
        report_step("exporting", 0.0)
        with open("/dev/full", "wb") as out:  # every write fails with ENOSPC
            out.write(b"mesh" * 4096)

    run_worker(body)
    job_id = _upload(client, brain_2mm)
    status = _wait(client, job_id, lambda b: b["status"] == "failed")
    assert status["attempt"] == 3
    assert status["error_code"] == "insufficient_storage"
    assert client.get("/stats").get_json()["failed_jobs_by_code"] == {"insufficient_storage": 1}
    assert status["error"] == (
        "Processing failed 3 times; last error: the server ran out of disk space while writing "
        "the results."
    )


def test_cancel_stops_a_running_job_at_the_next_step(
    client, brain_2mm, run_worker, settings
) -> None:
    inside, release = threading.Event(), threading.Event()
    reached: list[str] = []

    def body(job_id: str) -> None:
        for step_id in STEP_IDS:
            report_step(step_id, 0.0)
            reached.append(step_id)
            if step_id == "segmenting":
                inside.set()
                release.wait(10)

    run_worker(body)
    job_id = _upload(client, brain_2mm)
    assert inside.wait(10)
    assert client.delete(f"/jobs/{job_id}").status_code == 200
    release.set()
    time.sleep(0.5)
    assert reached == ["loading", "preparing", "segmenting"]
    assert client.get(f"/status/{job_id}").get_json()["status"] == "cancelled"
    assert not (settings.jobs_dir / job_id).exists()
