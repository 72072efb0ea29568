"""POST /upload: what is accepted, what is refused and how, and that nothing is left behind."""

from __future__ import annotations

import gzip
import io
import struct
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from api.app import create_app
from mrimesh.config import Settings
from mrimesh.keys import Keys


def _post(client, payload: bytes, name: str):
    return client.post(
        "/upload", data={"file": (io.BytesIO(payload), name)}, content_type="multipart/form-data"
    )


def _nifti_bytes(data: np.ndarray) -> bytes:
    image = nib.Nifti1Image(data, np.eye(4))
    return gzip.compress(image.to_bytes())


def _job_folders(settings: Settings) -> list[Path]:
    return list(settings.jobs_dir.iterdir()) if settings.jobs_dir.exists() else []


def test_a_brain_scan_is_accepted_and_queued(client, settings, brain_2mm, redis_client) -> None:
    response = _post(client, brain_2mm.read_bytes(), "Jane_Doe_T1.nii.gz")

    assert response.status_code == 202
    body = response.get_json()
    assert body["status"] == "queued"
    assert body["queue_position"] == 1
    assert body["progress_percent"] == 0
    assert body["created_at"].endswith("Z")
    assert response.headers["Location"] == f"/status/{body['job_id']}"
    stored = list((settings.jobs_dir / body["job_id"] / "input").iterdir())
    assert [p.name for p in stored] == ["upload.nii.gz"]
    assert stored[0].read_bytes() == brain_2mm.read_bytes()
    # The original file name (which can carry a patient's name) is stored nowhere.
    record = redis_client.hgetall(Keys(settings.key_prefix).job(body["job_id"]))
    assert not any(b"Jane" in value for value in record.values())


def test_second_upload_waits_behind_the_first(client, brain_2mm) -> None:
    first = _post(client, brain_2mm.read_bytes(), "a.nii.gz").get_json()
    second = _post(client, brain_2mm.read_bytes(), "b.nii.gz").get_json()
    assert (first["queue_position"], second["queue_position"]) == (1, 2)


@pytest.mark.parametrize(
    ("name", "payload", "status", "code"),
    [
        ("scan.png", b"\x89PNG\r\n\x1a\n" + b"0" * 100, 415, "unsupported_type"),
        ("scan.nii", b"", 422, "empty_file"),
        ("scan.nii", b"\x89PNG\r\n\x1a\n" + b"0" * 400, 422, "invalid_image"),
        ("scan.nii.gz", b"not gzip at all" * 30, 422, "invalid_image"),
        ("scan.zip", b"PK\x03\x04 truncated", 422, "invalid_zip"),
        ("scan.zip", b"hello", 422, "invalid_zip"),
    ],
)
def test_bad_files_get_a_clear_json_error_and_leave_nothing(
    client, settings, name, payload, status, code
) -> None:
    response = _post(client, payload, name)
    assert response.status_code == status
    body = response.get_json()
    assert body["code"] == code
    assert len(body["error"]) > 10
    assert _job_folders(settings) == []


def test_a_2d_image_is_refused(client, settings) -> None:
    response = _post(client, _nifti_bytes(np.ones((64, 64), np.int16)), "slice.nii.gz")
    assert response.status_code == 422
    assert response.get_json()["code"] == "not_3d"
    assert "2D" in response.get_json()["error"]


def test_a_colour_image_is_refused_at_upload_with_the_workers_reason(client, settings) -> None:
    rgb = np.zeros((32, 32, 32), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    response = _post(client, _nifti_bytes(rgb), "rgb.nii.gz")
    assert response.status_code == 422
    assert response.get_json()["code"] == "rgb"
    assert "greyscale" in response.get_json()["error"]
    assert _job_folders(settings) == []


def test_a_header_claiming_absurd_size_is_refused_before_reading_data(client, settings) -> None:
    header = nib.Nifti2Header()
    header.set_data_shape((100000, 100000, 100000))
    header.set_data_dtype(np.int16)
    raw = header.binaryblock + b"\x00" * 4 + b"\x00" * 1000  # NIfTI-2: 64-bit dims
    response = _post(client, raw, "huge.nii")
    assert response.status_code == 422
    assert response.get_json()["code"] == "image_too_large"


def test_zip_slip_is_refused(client, settings) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../../etc/evil.dcm", b"x" * 200)
    response = _post(client, buffer.getvalue(), "series.zip")
    assert response.status_code == 422
    assert response.get_json()["code"] == "zip_unsafe_path"


def test_zip_bomb_is_refused(client, settings) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("IM0001.dcm", b"\x00" * (50 * 1024**2))
    response = _post(client, buffer.getvalue(), "series.zip")
    assert response.status_code == 422
    assert response.get_json()["code"] == "zip_bomb"


def test_missing_file_field(client) -> None:
    response = client.post("/upload", data={}, content_type="multipart/form-data")
    assert response.status_code == 400
    assert response.get_json()["code"] == "no_file"


def test_upload_over_the_size_limit_is_413_json(settings, brain_2mm) -> None:
    small = Settings.from_env({}, **{**settings.__dict__, "max_upload_bytes": 10_000})
    client = create_app({"SETTINGS": small}).test_client()
    response = _post(client, brain_2mm.read_bytes(), "big.nii.gz")
    assert response.status_code == 413
    assert response.get_json()["code"] == "too_large"
    assert "limit" in response.get_json()["error"]


def test_redis_outage_answers_503_and_keeps_nothing(settings, brain_2mm, tmp_path) -> None:
    from tests.support.redis_server import free_port

    down = Settings.from_env(
        {}, **{**settings.__dict__, "redis_url": f"redis://127.0.0.1:{free_port()}/0"}
    )
    client = create_app({"SETTINGS": down}).test_client()
    response = _post(client, brain_2mm.read_bytes(), "scan.nii.gz")
    assert response.status_code == 503
    assert response.get_json()["code"] == "unavailable"
    assert client.get("/healthz").status_code == 503
    assert _job_folders(down) == []


def test_nifti_header_without_magic_is_not_an_image(client) -> None:
    raw = struct.pack("<i", 1234) + b"\x00" * 400
    response = _post(client, raw, "scan.nii")
    assert response.status_code == 422
    assert response.get_json()["code"] == "invalid_image"


def test_a_full_disk_gets_a_clear_507_and_leaves_no_job(
    client, settings, brain_2mm, redis_client, monkeypatch
) -> None:
    # Given a data disk with no space left (/dev/full fails every write with ENOSPC)
    monkeypatch.setattr(
        "api.upload_stream.StreamingUploadRequest._get_file_stream",
        lambda *args, **kwargs: open("/dev/full", "wb+"),  # noqa: SIM115 - werkzeug closes it
    )
    # When a scan is uploaded
    response = _post(client, brain_2mm.read_bytes(), "scan.nii.gz")
    # Then the answer says so in JSON, asks to retry later, and nothing of the job remains
    assert response.status_code == 507
    assert response.get_json()["code"] == "insufficient_storage"
    assert "try again later" in response.get_json()["error"]
    assert int(response.headers["Retry-After"]) >= 60  # flask-limiter may lengthen it
    assert _job_folders(settings) == []
    assert redis_client.zcard(Keys(settings.key_prefix).waiting) == 0
    # and the service keeps serving
    assert client.get("/healthz").status_code == 200
