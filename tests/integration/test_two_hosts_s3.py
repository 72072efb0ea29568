"""Two GPU hosts, simulated: nothing shared but Redis and an S3 bucket (a real SeaweedFS).

The API and the janitor run with one data folder, each worker with its own, as on three machines
with no shared file system. Jobs complete on both workers, downloads come from the bucket through
presigned links, a worker killed mid-job has its job finished by the other, and a link that has
expired is refused by the store itself.
"""

from __future__ import annotations

import io
import json
import os
import signal
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests

from mrimesh.keys import Keys
from tests.support.redis_server import RedisServer
from tests.support.s3_server import S3Server
from tests.support.service import ServiceStack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: Lifetime of a download link in this test, in seconds: long enough to follow it at once.
LINK_SECONDS = 4
WORKERS = ("worker-a", "worker-b")


@pytest.fixture
def hosts(tmp_path: Path, s3_server: S3Server) -> Iterator[tuple[ServiceStack, redis.Redis]]:
    server = RedisServer(tmp_path / "redis", persistent=False).start()
    stack = ServiceStack(
        redis_url=server.url,
        data_dir=tmp_path / "api-host",
        log_dir=tmp_path / "logs",
        extra_env={
            **s3_server.env(),
            "MRIMESH_S3_LINK_SECONDS": str(LINK_SECONDS),
            "MRIMESH_MESH_PROCESSES": "1",
        },
    )
    try:
        stack.start_api()
        stack.start_janitor()
        for name in WORKERS:
            # A GPU host's worker knows Redis, the store and its own folder; nothing else
            # (a short heartbeat only makes this test's crash detection quick).
            stack.start_worker(
                name,
                {
                    "MRIMESH_REDIS_URL": server.url,
                    **s3_server.env(),
                    "MRIMESH_DATA_DIR": str(tmp_path / name),
                    "MRIMESH_MESH_PROCESSES": "1",
                    "MRIMESH_WORKER_HEARTBEAT_SECONDS": "1",
                },
                only=True,
            )
        stack.wait_for_workers(len(WORKERS), timeout=240)
        yield stack, server.client()
    finally:
        stack.stop_all()
        server.stop()


def _worker_of(stack: ServiceStack, client: redis.Redis, job_id: str) -> str:
    """Which of the stack's workers runs (or ran) the job."""
    worker_id = client.hget(Keys().job(job_id), "worker_id").decode()
    pid = int(worker_id.rsplit(":", 1)[1])
    group = os.getpgid(pid)
    (name,) = [n for n in WORKERS if n in stack.processes and stack.processes[n].pid == group]
    return name


def _download(stack: ServiceStack, path: str) -> tuple[str, requests.Response]:
    """GET ``path`` from the API without following; then the link it redirects to."""
    answer = stack.get(path, allow_redirects=False)
    assert answer.status_code == 302, answer.text
    link = answer.headers["Location"]
    assert link.startswith(stack.env()["MRIMESH_S3_ENDPOINT"])
    return link, requests.get(link, timeout=30)


def test_two_hosts_share_only_redis_and_the_bucket(hosts, brain_2mm, tmp_path, s3_server) -> None:
    stack, client = hosts
    # Given two scans uploaded at once
    jobs = [stack.upload(brain_2mm).json()["job_id"] for _ in WORKERS]

    # When both have been processed
    done = [stack.wait_for_status(job, {"completed", "failed"}, timeout=600) for job in jobs]

    # Then both completed, one on each worker
    assert [d["status"] for d in done] == ["completed", "completed"], done
    assert sorted(_worker_of(stack, client, job) for job in jobs) == sorted(WORKERS)
    for job_id in jobs:
        # the download is a presigned link to the bucket, and the zip holds the meshes
        link, answer = _download(stack, f"download/{job_id}")
        assert answer.status_code == 200
        assert answer.headers["Content-Type"] == "application/zip"
        assert "attachment" in answer.headers["Content-Disposition"]
        names = zipfile.ZipFile(io.BytesIO(answer.content)).namelist()
        assert "report.json" in names and any(n.endswith(".stl") for n in names)
        # the page's files are their own objects, served the same way
        _, report = _download(stack, f"jobs/{job_id}/files/report.json")
        assert report.status_code == 200
        assert json.loads(report.content)["structures"]
        # the bucket holds the results and no longer the upload
        keys = s3_server.object_keys(f"jobs/{job_id}/")
        assert f"jobs/{job_id}/result.zip" in keys
        assert f"jobs/{job_id}/files/report.json" in keys
        assert not [k for k in keys if "/input/" in k]
    # and no host kept a job's files: the API's disk has none, a worker's scratch is emptied
    assert not list((tmp_path / "api-host").rglob("*.nii*"))
    for name in WORKERS:
        scratch = tmp_path / name / "scratch"
        assert not scratch.exists() or not any(scratch.iterdir()), name

    # When a link is used after it expired
    link, first = _download(stack, f"download/{jobs[0]}")
    assert first.status_code == 200
    time.sleep(LINK_SECONDS + 1.5)
    # Then the store refuses it, and the API hands out a fresh one
    late = requests.get(link, timeout=30)
    assert late.status_code == 403
    assert "expired" in late.text.lower()
    assert _download(stack, f"download/{jobs[0]}")[1].status_code == 200


def test_a_worker_killed_mid_job_has_its_job_finished_by_the_other(hosts, brain_2mm) -> None:
    stack, client = hosts
    job_id = stack.upload(brain_2mm).json()["job_id"]
    stack.wait_until(
        lambda: stack.get(f"status/{job_id}").json()["status"] == "processing",
        240,
        "the job to start",
        interval=0.05,
    )
    victim = _worker_of(stack, client, job_id)

    # When the worker running it dies with its whole host (SIGKILL to every process of it)
    stack.stop(victim, signal.SIGKILL)

    # Then the other worker finishes it
    done = stack.wait_for_status(job_id, {"completed", "failed"}, timeout=600)
    assert done["status"] == "completed", (done.get("error"), done.get("error_code"))
    assert done["attempt"] == 2
    survivor = next(n for n in WORKERS if n != victim)
    assert _worker_of(stack, client, job_id) == survivor
    assert _download(stack, f"download/{job_id}")[1].status_code == 200
