"""With the S3 back end (a real SeaweedFS), expiry, cancellation, failure and the stray sweep leave
nothing of a job in the bucket: the test lists the bucket itself."""

from __future__ import annotations

import io
import time
from pathlib import Path

from flask.testing import FlaskClient

from api.app import create_app
from gpu_worker.janitor import Janitor
from mrimesh.config import Settings
from mrimesh.paths import new_job_id
from mrimesh.storage import RESULT_ZIP, open_storage
from tests.support.s3_server import S3Server


def _upload(client: FlaskClient, brain_2mm: Path) -> str:
    response = client.post(
        "/upload",
        data={"file": (io.BytesIO(brain_2mm.read_bytes()), "scan.nii.gz")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 202, response.get_json()
    return response.get_json()["job_id"]


def _objects(s3_server: S3Server, job_id: str) -> list[str]:
    return s3_server.object_keys(f"jobs/{job_id}/")


def test_expired_and_cancelled_jobs_leave_nothing_in_the_bucket(
    s3_settings: Settings, s3_server: S3Server, redis_client, brain_2mm, tmp_path
) -> None:
    # Given three jobs in the bucket: one queued, one running, one with results
    client = create_app({"SETTINGS": s3_settings}).test_client()
    queued, running, finished = (_upload(client, brain_2mm) for _ in range(3))
    janitor = Janitor(s3_settings, redis_client)
    janitor.lifecycle.start(running, worker_id="test:1")
    result = tmp_path / "result.zip"
    result.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    storage = open_storage(s3_settings)
    storage.put(finished, RESULT_ZIP, result)
    storage.put(finished, "files/brain.glb", result)
    for job_id in (queued, running, finished):
        assert _objects(s3_server, job_id), "the upload is in the bucket"

    # When the queued one is cancelled through the API
    assert client.delete(f"/jobs/{queued}").status_code == 200
    # Then its objects are gone at once
    assert _objects(s3_server, queued) == []
    # and the running one, cancelled too, is left to stop at its next step (no worker here)
    assert client.delete(f"/jobs/{running}").status_code == 200

    # When the janitor sweeps after every job's lifetime
    created = janitor.jobs.get(finished).created_at
    done = janitor.sweep(at=created + s3_settings.job_ttl_seconds + 1)

    # Then the bucket holds nothing of any of them, and they answer "expired"
    assert done["expired"] == 3
    for job_id in (queued, running, finished):
        assert _objects(s3_server, job_id) == [], job_id
    assert client.get(f"/status/{finished}").get_json()["status"] == "expired"
    assert client.get(f"/download/{finished}").status_code == 410


def test_a_failed_job_leaves_nothing_in_the_bucket(
    s3_settings: Settings, s3_server: S3Server, redis_client, brain_2mm
) -> None:
    client = create_app({"SETTINGS": s3_settings}).test_client()
    job_id = _upload(client, brain_2mm)
    lifecycle = Janitor(s3_settings, redis_client).lifecycle
    lifecycle.start(job_id, worker_id="test:1")

    lifecycle.fail(job_id, code="invalid_image", error="not a brain")

    assert _objects(s3_server, job_id) == []


def test_stray_objects_without_a_job_are_swept_once_they_are_a_minute_old(
    s3_settings: Settings, s3_server: S3Server, redis_client, tmp_path
) -> None:
    # Given objects of a job no record knows (an API that crashed between put and create)
    stray = new_job_id()
    source = tmp_path / "upload.nii.gz"
    source.write_bytes(b"scan")
    open_storage(s3_settings).put(stray, "input/upload.nii.gz", source)
    janitor = Janitor(s3_settings, redis_client)

    # When the janitor sweeps at once, they may still be an upload in progress: kept
    janitor.sweep(at=time.time())
    assert _objects(s3_server, stray)
    # but a sweep a few minutes later deletes them
    swept = janitor.sweep(at=time.time() + 300)["swept"]
    assert swept >= 1
    assert _objects(s3_server, stray) == []
