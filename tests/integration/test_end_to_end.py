"""Upload → queue → worker → download, with the real gunicorn API, Redis and Dramatiq worker."""

from __future__ import annotations

import io
import json
import struct
import zipfile

import pytest

from tests.support.data import shared_file
from tests.support.service import ServiceStack

pytestmark = pytest.mark.integration


def _stl_is_closed_binary_mesh(payload: bytes) -> int:
    """Triangle count of a binary STL whose size matches its header."""
    (count,) = struct.unpack_from("<I", payload, 80)
    assert len(payload) == 84 + 50 * count
    assert count > 1000
    return count


def test_brain_scan_becomes_downloadable_meshes(live_service: ServiceStack, brain_2mm) -> None:
    # Given a real brain MRI uploaded to the running service
    response = live_service.upload(brain_2mm)
    assert response.status_code == 202, response.text
    job = response.json()

    # When the worker has processed it
    status = live_service.wait_for_status(job["job_id"], {"completed", "failed"}, timeout=300)

    # Then the job completed and says how long it took
    assert status["status"] == "completed", status
    assert status["progress_percent"] == 100
    assert status["started_at"] and status["finished_at"]
    names = {s["name"] for s in status["result"]["structures"]}
    assert "brain" in names
    # and the download is a zip with a printable mesh, the segmentation and the report
    download = live_service.get(f"download/{job['job_id']}")
    assert download.status_code == 200
    assert download.headers["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(download.content))
    files = set(archive.namelist())
    assert "report.json" in files
    assert "segmentation.nii.gz" in files
    stl = next(name for name in files if name.endswith(".stl") and "brain" in name)
    _stl_is_closed_binary_mesh(archive.read(stl))
    report = json.loads(archive.read("report.json"))
    assert all(s["watertight"] for s in report["structures"])
    # and the upload itself is no longer kept
    stats = live_service.get("stats").json()
    assert stats["completed_jobs"] >= 1
    assert stats["average_processing_time_seconds"] > 0


def test_dicom_zip_from_a_hospital_cd_is_accepted(live_service: ServiceStack, tmp_path) -> None:
    series = shared_file("dicom_series")
    archive = tmp_path / "cd.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for dcm in sorted(series.glob("*.dcm")):
            z.write(dcm, f"DICOM/SERIES1/{dcm.name}")
    response = live_service.upload(archive)
    assert response.status_code == 202, response.text
    status = live_service.wait_for_status(response.json()["job_id"], {"completed", "failed"})
    # Three slices are too thin for a brain: the job must say so clearly rather than crash.
    assert status["status"] in {"completed", "failed"}
    if status["status"] == "failed":
        assert status["error"] and len(status["error"]) > 10


def test_a_non_image_fails_with_a_reason_and_the_service_keeps_serving(
    live_service: ServiceStack, tmp_path, brain_2mm
) -> None:
    bogus = tmp_path / "notes.nii"
    bogus.write_bytes(b"Dear doctor, " * 100)
    rejected = live_service.upload(bogus)
    assert rejected.status_code == 422
    assert rejected.json()["code"] == "invalid_image"
    assert live_service.get("healthz").status_code == 200
