"""The janitor: expiry after 24 h (files deleted, tombstone, counted), stray-file sweeping and
unfinished uploads in the store."""

from __future__ import annotations

import io
import os
import time

from gpu_worker.janitor import STALE_UPLOAD_SECONDS, Janitor
from mrimesh.config import Settings
from mrimesh.paths import new_job_id


def _upload(client, brain_2mm) -> str:
    response = client.post(
        "/upload",
        data={"file": (io.BytesIO(brain_2mm.read_bytes()), "scan.nii.gz")},
        content_type="multipart/form-data",
    )
    return response.get_json()["job_id"]


def test_a_job_expires_after_its_lifetime_and_its_files_go(
    client, settings: Settings, redis_client, brain_2mm
) -> None:
    # Given a job uploaded now
    job_id = _upload(client, brain_2mm)
    expires_at = client.get(f"/status/{job_id}").get_json()["expires_at"]
    assert (settings.jobs_dir / job_id).exists()
    janitor = Janitor(settings, redis_client)
    created = janitor.jobs.get(job_id).created_at

    # When the janitor sweeps one hour later, nothing happens
    assert janitor.sweep(at=created + 3600)["expired"] == 0
    # but when it sweeps after 24 h
    done = janitor.sweep(at=created + settings.job_ttl_seconds + 1)

    # Then the job answers "expired" (not "queued"), its files are gone, and it is counted
    assert done["expired"] == 1
    status = client.get(f"/status/{job_id}").get_json()
    assert status["status"] == "expired"
    assert status["expires_at"] == expires_at
    assert status["queue_position"] is None
    assert not (settings.jobs_dir / job_id).exists()
    stats = client.get("/stats").get_json()
    assert (stats["expired_jobs"], stats["active_jobs"]) == (1, 0)
    assert client.get(f"/download/{job_id}").status_code == 410


def test_stray_folders_and_stale_partial_uploads_are_swept(
    settings: Settings, redis_client
) -> None:
    orphan = settings.jobs_dir / "0b8e7a8e-4f1b-4c8e-9d7e-1f2a3b4c5d6e"
    (orphan / "input").mkdir(parents=True)
    (orphan / "input" / "upload.nii.gz").write_bytes(b"x")
    partial = settings.data_dir / "tmp" / "upload-abc.part"
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.write_bytes(b"half an upload")
    old = orphan.stat().st_mtime - 7200
    os.utime(orphan, (old, old))
    os.utime(partial, (old, old))

    swept = Janitor(settings, redis_client).sweep()["swept"]

    assert swept == 2
    assert not orphan.exists()
    assert not partial.exists()


def test_an_upload_a_dead_api_left_unfinished_in_the_store_is_aborted(
    s3_settings: Settings, s3_server, redis_client
) -> None:
    # Given the parts of an upload whose API was killed before completing it
    key = f"jobs/{new_job_id()}/input/upload.nii.gz"
    client = s3_server.client()
    begun = client.create_multipart_upload(Bucket=s3_server.bucket, Key=key)["UploadId"]
    client.upload_part(
        Bucket=s3_server.bucket, Key=key, UploadId=begun, PartNumber=1, Body=b"x" * 1024
    )
    janitor = Janitor(s3_settings, redis_client)

    def unfinished() -> list[str]:
        listed = client.list_multipart_uploads(Bucket=s3_server.bucket).get("Uploads", [])
        return [u["UploadId"] for u in listed if u["Key"] == key]

    # When the janitor sweeps within the hour, the upload may still be under way: it stays
    janitor.sweep()
    assert unfinished() == [begun]
    # and a sweep more than an hour later aborts it
    assert janitor.sweep(at=time.time() + STALE_UPLOAD_SECONDS + 60)["swept"] >= 1
    assert unfinished() == []
