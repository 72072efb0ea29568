"""Stats and queued jobs survive a Redis restart when Redis persists (AOF everysec + RDB)."""

from __future__ import annotations

import io
import signal
import time
import uuid

import pytest

from api.app import create_app
from mrimesh.config import Settings
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.integration


def _client(server: RedisServer, tmp_path):
    settings = Settings.from_env(
        {}, redis_url=server.url, data_dir=tmp_path / "data", key_prefix=f"p{uuid.uuid4().hex[:6]}"
    )
    return create_app({"SETTINGS": settings}).test_client()


def _upload_three(client, brain_2mm) -> list[str]:
    ids = []
    for _ in range(3):
        response = client.post(
            "/upload",
            data={"file": (io.BytesIO(brain_2mm.read_bytes()), "scan.nii.gz")},
            content_type="multipart/form-data",
        )
        assert response.status_code == 202
        ids.append(response.get_json()["job_id"])
    return ids


@pytest.mark.parametrize(
    "stop_signal", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"]
)
def test_stats_persistence(tmp_path, brain_2mm, stop_signal) -> None:
    # Given a Redis with AOF (everysec) holding three uploads
    server = RedisServer(tmp_path / "redis", persistent=True).start()
    try:
        client = _client(server, tmp_path)
        ids = _upload_three(client, brain_2mm)
        client.delete(f"/jobs/{ids[0]}")
        before = client.get("/stats").get_json()
        if stop_signal == signal.SIGKILL:
            time.sleep(1.5)  # appendfsync everysec: at most ~1 s of writes may be lost

        # When Redis stops (gracefully or killed) and starts again
        server.restart(stop_signal)

        # Then the counters, the histogram and the waiting line are all still there
        after = client.get("/stats").get_json()
        for name in ("total_jobs", "cancelled_jobs", "queued_jobs", "active_jobs"):
            assert after[name] == before[name], name
        assert after["files_per_day"] == before["files_per_day"]
        assert client.get(f"/status/{ids[2]}").get_json()["queue_position"] == 2
    finally:
        server.stop()


def test_control_without_persistence_stats_are_lost(tmp_path, brain_2mm) -> None:
    """The same restart without persistence loses everything: the test above can fail."""
    server = RedisServer(tmp_path / "redis", persistent=False).start()
    try:
        client = _client(server, tmp_path)
        _upload_three(client, brain_2mm)
        assert client.get("/stats").get_json()["total_jobs"] == 3
        server.restart(signal.SIGTERM)
        assert client.get("/stats").get_json()["total_jobs"] == 0
    finally:
        server.stop()
