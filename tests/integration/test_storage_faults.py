"""The object store misconfigured or out of reach, with the real processes and a real SeaweedFS.

Wrong credentials stop the API and the worker at start-up with a clear message; a store the
worker cannot reach makes the job retry, then fail with a plain reason. No message or log line
names the store's address, key or secret.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.redis_server import RedisServer, free_port
from tests.support.s3_server import S3Server
from tests.support.service import ROOT, ServiceStack
from tests.support.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.integration]


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis", persistent=False).start()
    yield server
    server.stop()


def _secrets(s3_server: S3Server) -> list[str]:
    return [s3_server.access_key, s3_server.secret_key, s3_server.endpoint]


def _run(argv: list[str], env: dict[str, str], timeout: float = 120) -> tuple[int, str]:
    """Run a service command that should refuse to start; (exit status, what it printed)."""
    process = subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    return process.returncode, process.stdout + process.stderr


def _env(s3_server: S3Server, redis_url: str, data_dir: Path, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MRIMESH_", "AWS_"))}
    env.update(s3_server.env())
    env.update(
        MRIMESH_REDIS_URL=redis_url,
        MRIMESH_DATA_DIR=str(data_dir),
        MRIMESH_PORT=str(free_port()),
        PYTHONUNBUFFERED="1",
    )
    env.update(overrides)
    return env


@pytest.mark.parametrize(
    ("command", "who"),
    [
        ([sys.executable, "-m", "gpu_worker.worker"], "worker"),
        ([sys.executable, "-m", "gpu_worker.janitor"], "janitor"),
        (
            [sys.executable, "-m", "gunicorn", "--config", "api/gunicorn_conf.py", "api.wsgi:app"],
            "api",
        ),
    ],
)
def test_wrong_credentials_stop_the_service_at_start_up(
    command, who, s3_server: S3Server, redis_server: RedisServer, tmp_path: Path
) -> None:
    # Given the right key with a wrong secret
    env = _env(s3_server, redis_server.url, tmp_path, AWS_SECRET_ACCESS_KEY="not-our-secret-0")
    # When the worker or the API starts
    status, output = _run(command, env)
    # Then it stops at once, and says why and what to check
    assert status != 0, f"the {who} started with wrong credentials:\n{output[-3000:]}"
    assert "refused our credentials" in output, output[-3000:]
    assert "AWS_SECRET_ACCESS_KEY" in output
    for secret in [*_secrets(s3_server), "not-our-secret-0"]:
        assert secret not in output


def test_a_missing_bucket_stops_the_worker_at_start_up(
    s3_server: S3Server, redis_server: RedisServer, tmp_path: Path
) -> None:
    env = _env(s3_server, redis_server.url, tmp_path, MRIMESH_S3_BUCKET="no-such-bucket")
    status, output = _run([sys.executable, "-m", "gpu_worker.worker"], env)
    assert status != 0
    assert "bucket 'no-such-bucket' does not exist" in output


@pytest.mark.slow
def test_a_store_the_worker_cannot_reach_fails_the_job_after_its_retries(
    s3_server: S3Server, redis_server: RedisServer, tmp_path: Path, brain_2mm: Path
) -> None:
    # Given a worker that reaches the store through a link we can cut, and an API that reaches
    # it directly
    link = TcpProxy(int(s3_server.endpoint.rsplit(":", 1)[1])).start()
    stack = ServiceStack(
        redis_url=redis_server.url,
        data_dir=tmp_path / "api-host",
        log_dir=tmp_path / "logs",
        extra_env=s3_server.env(),
    )
    try:
        stack.start_api()
        stack.start_janitor()
        stack.start_worker(
            env={
                "MRIMESH_DATA_DIR": str(tmp_path / "gpu-host"),
                "MRIMESH_S3_ENDPOINT": link.address,
            }
        )
        stack.wait_for_workers(1, timeout=240)
        # When the worker's link to the store goes down and a scan is uploaded
        link.unplug()
        job_id = stack.upload(brain_2mm).json()["job_id"]
        # Then the job is tried as often as allowed, then fails with a reason people can read
        failed = stack.wait_for_status(job_id, {"failed", "completed"}, timeout=240)
    finally:
        stack.stop_all()
        link.unplug()
    assert failed["status"] == "failed"
    assert failed["attempt"] == 3
    assert failed["error_code"] == "storage_unavailable"
    assert "file store" in failed["error"]
    # and neither the job nor any process's log names the store's address or credentials
    addresses = [*_secrets(s3_server), link.address, f"127.0.0.1:{link.port}"]
    for text in [str(failed), *(stack.log(n) for n in ("api", "worker", "janitor"))]:
        for secret in addresses:
            assert secret not in text
    assert "file store could not" in stack.log("worker")
