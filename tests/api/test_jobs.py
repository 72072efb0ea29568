"""GET /status, GET /download and DELETE /jobs for one job."""

from __future__ import annotations

import io
import uuid

from mrimesh.keys import Keys


def _upload(client, brain_2mm) -> dict:
    response = client.post(
        "/upload",
        data={"file": (io.BytesIO(brain_2mm.read_bytes()), "scan.nii.gz")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 202
    return response.get_json()


def test_unknown_job_is_404_never_a_fake_queued(client) -> None:
    response = client.get(f"/status/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.get_json()["code"] == "not_found"


def test_malformed_job_id_is_404(client) -> None:
    for bad in ("abc", "../../etc/passwd", "00000000-0000-0000-0000-000000000000"):
        response = client.get(f"/status/{bad}")
        assert response.status_code == 404
        assert response.get_json()["code"] == "not_found"


def test_status_has_the_spec_fields(client, brain_2mm) -> None:
    job = _upload(client, brain_2mm)
    body = client.get(f"/status/{job['job_id']}").get_json()
    for name in (
        "job_id",
        "status",
        "progress_percent",
        "current_step",
        "queue_position",
        "eta_seconds",
        "created_at",
        "started_at",
    ):
        assert name in body
    assert body["status"] == "queued"
    assert body["eta_seconds"] is None  # no history yet: say so, do not invent
    assert body["started_at"] is None
    assert body["attempt"] == 0


def test_download_is_409_until_completed(client, brain_2mm) -> None:
    job = _upload(client, brain_2mm)
    response = client.get(f"/download/{job['job_id']}")
    assert response.status_code == 409
    assert response.get_json()["code"] == "not_ready"


def test_cancel_a_queued_job_removes_its_files(client, settings, brain_2mm, redis_client) -> None:
    first = _upload(client, brain_2mm)
    second = _upload(client, brain_2mm)

    response = client.delete(f"/jobs/{first['job_id']}")

    assert response.status_code == 200
    assert response.get_json()["status"] == "cancelled"
    assert not (settings.jobs_dir / first["job_id"]).exists()
    assert client.get(f"/status/{second['job_id']}").get_json()["queue_position"] == 1
    assert client.get("/stats").get_json()["cancelled_jobs"] == 1
    again = client.delete(f"/jobs/{first['job_id']}")
    assert again.status_code == 409
    assert again.get_json()["code"] == "already_finished"
    assert redis_client.zscore(Keys(settings.key_prefix).waiting, first["job_id"]) is None


def test_stats_count_uploads(client, brain_2mm) -> None:
    _upload(client, brain_2mm)
    _upload(client, brain_2mm)
    stats = client.get("/stats").get_json()
    assert stats["total_jobs"] == 2
    assert stats["active_jobs"] == 2
    assert stats["queued_jobs"] == 2
    assert stats["completed_jobs"] == 0
    assert stats["failed_jobs"] == 0
    assert sum(stats["files_per_day"].values()) == 2


def test_metrics_are_prometheus_text(client, brain_2mm) -> None:
    _upload(client, brain_2mm)
    text = client.get("/metrics").get_data(as_text=True)
    assert 'mrimesh_jobs{status="queued"} 1.0' in text
    assert "mrimesh_queue_length 1.0" in text
    assert "mrimesh_job_duration_seconds_bucket" in text
    assert "mrimesh_step_duration_seconds_bucket" in text


def test_stats_tell_the_page_the_upload_limit(client, settings) -> None:
    assert client.get("/stats").get_json()["max_upload_bytes"] == settings.max_upload_bytes
