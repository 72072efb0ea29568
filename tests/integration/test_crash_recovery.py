"""Workers that die mid-job: the job is recovered, counted, and never left 'processing' forever.

These tests really kill processes: the service runs under ``scripts/serve.py`` (what ``make run``
uses), which restarts a dead worker; the janitor notices the silent worker and requeues its job.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from mrimesh.keys import Keys
from tests.support.data import downsampled_brain
from tests.support.redis_server import RedisServer
from tests.support.service import ServiceStack

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def supervised(tmp_path: Path) -> Iterator[tuple[ServiceStack, redis.Redis]]:
    server = RedisServer(tmp_path / "redis", persistent=True).start()
    stack = ServiceStack(
        redis_url=server.url, data_dir=tmp_path / "data", log_dir=tmp_path / "logs"
    )
    try:
        stack.start_supervised()
        stack.wait_for_workers(1, timeout=180)
        yield stack, server.client()
    finally:
        stack.stop("serve", signal.SIGINT, timeout=60)
        server.stop()
    assert "serve: stopped" in stack.log("serve")


def _worker_pid(client: redis.Redis, job_id: str) -> int:
    worker_id = client.hget(Keys().job(job_id), "worker_id").decode()
    return int(worker_id.rsplit(":", 1)[1])


def _redis_state(client: redis.Redis, job_id: str) -> str:
    """The job's record and the running and worker sets, for a failure message."""
    keys = Keys()
    return (
        f"job: {client.hgetall(keys.job(job_id))}\n"
        f"active: {client.zrange(keys.active, 0, -1, withscores=True)}\n"
        f"workers: {client.zrange(keys.workers, 0, -1, withscores=True)}"
    )


def _wait_step(stack: ServiceStack, job_id: str, step: str, attempt: int) -> None:
    stack.wait_until(
        lambda: (
            (s := stack.get(f"status/{job_id}").json())["current_step"] == step
            and s["attempt"] == attempt
        ),
        240,
        f"attempt {attempt} to reach {step}",
        interval=0.05,
    )


def test_worker_killed_mid_segmentation_job_still_completes_once(supervised, tmp_path) -> None:
    stack, client = supervised
    scan = downsampled_brain(tmp_path / "brain.nii.gz", step=1)
    job_id = stack.upload(scan).json()["job_id"]

    # When the worker is killed with SIGKILL while segmenting
    _wait_step(stack, job_id, "Segmenting", attempt=1)
    os.kill(_worker_pid(client, job_id), signal.SIGKILL)
    # and another scan is uploaded while it is down: the retry goes to the back of the line,
    # so the restarted worker takes this one first. (Alone, the retry could be taken within
    # 0.1 s of the janitor's requeue when the new worker is up first, too briefly to be seen.)
    other_id = stack.upload(scan).json()["job_id"]

    # Then /status soon says honestly that the job waits for a retry
    try:
        retrying = stack.wait_for_status(job_id, {"queued"}, timeout=60)
    except AssertionError as e:
        raise AssertionError(f"{e}\n{_redis_state(client, job_id)}") from None
    assert retrying["attempt"] == 1
    assert retrying["retrying"] is True
    assert "stopped unexpectedly" in retrying["retry_reason"]
    # and the restarted worker completes it, exactly once
    done = stack.wait_for_status(job_id, {"completed", "failed"}, timeout=400)
    assert done["status"] == "completed", (done["error"], done["error_code"])
    assert done["attempt"] == 2
    other = stack.wait_for_status(other_id, {"completed", "failed"}, timeout=60)
    assert other["status"] == "completed"
    assert other["attempt"] == 1
    assert other["finished_at"] <= done["started_at"]
    stats = stack.get("stats").json()
    assert stats["completed_jobs"] == 2
    assert stats["timing_window_jobs"] == 2
    assert stack.get(f"download/{job_id}").status_code == 200


def test_a_job_that_keeps_killing_its_worker_fails_after_three_attempts(
    supervised, brain_2mm
) -> None:
    stack, client = supervised
    job_id = stack.upload(brain_2mm).json()["job_id"]

    for attempt in (1, 2, 3):
        stack.wait_until(
            lambda a=attempt: (
                stack.get(f"status/{job_id}").json()["attempt"] == a
                and stack.get(f"status/{job_id}").json()["status"] == "processing"
            ),
            300,
            f"attempt {attempt} to start",
            interval=0.05,
        )
        os.kill(_worker_pid(client, job_id), signal.SIGKILL)

    failed = stack.wait_for_status(job_id, {"failed", "completed"}, timeout=60)
    assert failed["status"] == "failed"
    assert failed["error_code"] == "worker_crashed"
    assert "crashed 3 times" in failed["error"]
    # and the service still serves: the restarted worker is back
    stack.wait_for_workers(1, timeout=180)
    assert stack.get("healthz").status_code == 200


def test_a_job_past_the_time_limit_fails_as_a_timeout_and_the_worker_is_replaced(
    tmp_path,
) -> None:
    server = RedisServer(tmp_path / "redis", persistent=True).start()
    stack = ServiceStack(
        redis_url=server.url,
        data_dir=tmp_path / "data",
        log_dir=tmp_path / "logs",
        extra_env={"MRIMESH_JOB_TIME_LIMIT_SECONDS": "2"},
    )
    try:
        stack.start_supervised()
        stack.wait_for_workers(1, timeout=180)
        scan = downsampled_brain(tmp_path / "brain.nii.gz", step=1)
        job_id = stack.upload(scan).json()["job_id"]

        failed = stack.wait_for_status(job_id, {"failed", "completed"}, timeout=120)

        assert failed["status"] == "failed"
        assert failed["error_code"] == "timeout"
        assert "2 s limit" in failed["error"]
        assert not (tmp_path / "data" / "jobs" / job_id).exists()
        stack.wait_until(lambda: "serve: worker exited" in stack.log("serve"), 30, "a restart")
        stack.wait_for_workers(1, timeout=180)
    finally:
        stack.stop("serve", signal.SIGINT, timeout=60)
        server.stop()
