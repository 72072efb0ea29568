"""While Redis is down the API answers 503 JSON (no hang, no 500); everything recovers by itself."""

from __future__ import annotations

import signal
import time

import pytest

from tests.support.redis_server import RedisServer
from tests.support.service import ServiceStack

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_outage_gives_503_and_service_recovers_without_restarts(tmp_path, brain_2mm) -> None:
    server = RedisServer(tmp_path / "redis", persistent=True).start()
    stack = ServiceStack(
        redis_url=server.url, data_dir=tmp_path / "data", log_dir=tmp_path / "logs"
    )
    try:
        stack.start_api()
        stack.start_worker()
        stack.wait_for_workers(1)
        before = stack.upload(brain_2mm).json()["job_id"]
        stack.wait_for_status(before, {"completed"})

        # When Redis goes away
        server.stop(signal.SIGTERM)

        # Then every endpoint answers quickly with a JSON 503, and nothing is half-created
        for method, path in (("get", "healthz"), ("get", f"status/{before}"), ("get", "stats")):
            started = time.monotonic()
            response = getattr(stack, method)(path)
            assert response.status_code == 503, path
            assert response.json()["code"] == "unavailable"
            assert time.monotonic() - started < 15
        refused = stack.upload(brain_2mm)
        assert refused.status_code == 503
        assert "try again" in refused.json()["error"]
        jobs_dir = tmp_path / "data" / "jobs"
        assert {p.name for p in jobs_dir.iterdir()} <= {before}

        # When Redis comes back (same port, AOF intact), the API and the worker reconnect alone
        server.start()
        stack.wait_until(lambda: stack.get("healthz").status_code == 200, 30, "the API back")
        after = stack.upload(brain_2mm)
        assert after.status_code == 202
        done = stack.wait_for_status(after.json()["job_id"], {"completed", "failed"}, timeout=180)
        assert done["status"] == "completed"
        assert stack.get("stats").json()["completed_jobs"] == 2
    finally:
        stack.stop_all()
        server.stop()
