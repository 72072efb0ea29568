"""Upload → queue → worker → download, with the real gunicorn API, Redis and Dramatiq worker."""

from __future__ import annotations

import gzip
import io
import json
import struct
import zipfile

import pytest

from tests.support.data import shared_file
from tests.support.dicom_series import (
    PATIENT_BIRTH_DATE,
    PATIENT_ID,
    PATIENT_NAME,
    dicom_cd_zip,
)
from tests.support.service import ServiceStack

pytestmark = pytest.mark.integration


def _where_text_can_be(name: str, data: bytes) -> list[bytes]:
    """The parts of a result file that hold text: headers, metadata, XML and JSON.

    Voxels, vertices and compressed bytes are left out: a 3-letter name would turn up there by
    chance (an 8-bit brain scan holds every byte pair), which would prove nothing.
    """
    if name.endswith(".nii.gz"):
        raw = gzip.decompress(data)
        (vox_offset,) = struct.unpack_from("<f", raw, 108)
        return [raw[: max(int(vox_offset), 352)]]  # header and extensions
    if name.endswith(".stl"):
        return [data if data.startswith(b"solid ") else data[:80]]
    if name.endswith(".glb"):
        (json_length,) = struct.unpack_from("<I", data, 12)
        return [data[20 : 20 + json_length]]
    if name.endswith(".3mf"):
        inner = zipfile.ZipFile(io.BytesIO(data))
        return [inner.read(member) for member in inner.namelist()]
    if name.endswith(".ply"):
        return [data.split(b"end_header", 1)[0]]
    return [data]  # report.json, OBJ (text)


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


def test_a_hospital_cd_zip_becomes_meshes_and_leaks_no_patient_details(
    live_service: ServiceStack, tmp_path, brain_2mm
) -> None:
    # Given a zipped DICOMDIR file set, as copied off a hospital CD: a real brain as an axial
    # series of 95 slices, a localizer, and the patient's name, ID and birth date in every header
    cd = dicom_cd_zip(brain_2mm, tmp_path / "cd.zip")
    response = live_service.upload(cd)
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    # When the worker has processed it
    status = live_service.wait_for_status(job_id, {"completed", "failed"}, timeout=300)
    # Then the brain series was chosen over the localizer and meshed
    assert status["status"] == "completed", status
    series = status["result"]["input"]["series"]
    assert (series["series_number"], series["description"]) == (3, "t1_mprage_3d")
    brain = status["result"]["structures"][0]
    assert brain["name"] == "brain" and 900 <= brain["volume_ml"] <= 2000
    # and no patient detail is in the status or in any file of the download
    archive = zipfile.ZipFile(io.BytesIO(live_service.get(f"download/{job_id}").content))
    texts = [json.dumps(status).encode()]
    for name in archive.namelist():  # headers, metadata and text, not vertices or voxels
        texts += _where_text_can_be(name, archive.read(name))
    for secret in (PATIENT_NAME, "Doe", "Jane", PATIENT_ID, PATIENT_BIRTH_DATE, "Elsewhere"):
        assert not any(secret.encode() in text for text in texts), secret


def test_three_real_dicom_slices_fail_as_too_thin_with_a_reason(
    live_service: ServiceStack, tmp_path
) -> None:
    series = shared_file("dicom_series")
    archive = tmp_path / "cd.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for dcm in sorted(series.glob("*.dcm")):
            z.write(dcm, f"DICOM/SERIES1/{dcm.name}")
    response = live_service.upload(archive)
    assert response.status_code == 202, response.text
    status = live_service.wait_for_status(response.json()["job_id"], {"completed", "failed"})
    assert status["status"] == "failed"
    assert status["error_code"] == "image_too_small"
    assert "512×512×3" in status["error"]


def test_a_non_image_fails_with_a_reason_and_the_service_keeps_serving(
    live_service: ServiceStack, tmp_path, brain_2mm
) -> None:
    bogus = tmp_path / "notes.nii"
    bogus.write_bytes(b"Dear doctor, " * 100)
    rejected = live_service.upload(bogus)
    assert rejected.status_code == 422
    assert rejected.json()["code"] == "invalid_image"
    assert live_service.get("healthz").status_code == 200
