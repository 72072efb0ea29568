"""The sidecar: it keeps its worker's job alive, ends a job that runs too long, and only a job
still running."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from gpu_worker.sidecar import Sidecar
from mrimesh.config import Settings
from mrimesh.lifecycle import Lifecycle
from mrimesh.outcome import JobOutcome


def _running_job(store: Lifecycle, settings: Settings, worker_id: str, at: float) -> str:
    job_id = str(uuid.uuid4())
    store.create(job_id, input_kind="nifti", input_bytes=1, input_voxels=1000, at=at)
    store.start(job_id, worker_id=worker_id, at=at)
    (settings.jobs_dir / job_id).mkdir(parents=True)
    return job_id


def _watched_job(
    settings: Settings, client: redis.Redis, worker: subprocess.Popen
) -> tuple[Lifecycle, Sidecar, str, float]:
    """A job running on ``worker`` since now, and the sidecar watching that worker."""
    store = Lifecycle(client, settings)
    started = time.time()
    job_id = _running_job(store, settings, "host:1", at=started)
    return store, Sidecar(settings, client, "host:1", worker.pid), job_id, started


@pytest.fixture
def worker() -> Iterator[subprocess.Popen]:
    """A process standing in for the worker the sidecar watches."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield process
    process.kill()
    process.wait()


def test_a_job_that_finished_meanwhile_keeps_its_files_and_the_worker_lives(
    settings: Settings, redis_client: redis.Redis, worker: subprocess.Popen
) -> None:
    store, sidecar, job_id, started = _watched_job(settings, redis_client, worker)
    # Given the job completed just after the sidecar saw it running past the limit
    store.complete(job_id, JobOutcome(voxels=1000), step_seconds={}, at=started + 1)
    # When the sidecar acts on what it saw
    sidecar._end_for_timeout(job_id, settings.job_time_limit_seconds)
    # Then the finished job stays completed with its files, and the worker is not killed
    assert store.jobs.get(job_id).status.value == "completed"
    assert (settings.jobs_dir / job_id).exists()
    assert worker.poll() is None


def test_a_job_past_the_limit_fails_as_a_timeout_and_its_worker_is_ended(
    settings: Settings, redis_client: redis.Redis, worker: subprocess.Popen
) -> None:
    store, sidecar, job_id, started = _watched_job(settings, redis_client, worker)
    assert sidecar.tick(at=started + settings.job_time_limit_seconds + 1) is False
    assert store.jobs.get(job_id).status.value == "failed"
    assert not (settings.jobs_dir / job_id).exists()
    assert worker.wait(10) != 0


def test_a_tick_keeps_its_workers_job_alive_and_leaves_other_workers_jobs_alone(
    settings: Settings, redis_client: redis.Redis, worker: subprocess.Popen
) -> None:
    store, sidecar, job_id, started = _watched_job(settings, redis_client, worker)
    other = _running_job(store, settings, "elsewhere:2", at=started)
    # When the sidecar ticks ten seconds later, within the time limit
    assert sidecar.tick(at=started + 10) is True
    # Then its worker is live, its job's heartbeat moved on, and the other worker's did not
    assert store.jobs.get(job_id).heartbeat_at == pytest.approx(started + 10)
    assert store.jobs.get(other).heartbeat_at == pytest.approx(started)
    assert store.jobs.get(job_id).status.value == "processing"
    assert worker.poll() is None
