"""Re-make through the live service: a finished job's pieces made again with new print options,
from its kept label map, through the same queue, status, progress and download as any job."""

from __future__ import annotations

import io
import json
import time
import zipfile

import pytest
import requests

from tests.support.service import ServiceStack

pytestmark = pytest.mark.integration


def _poll(stack: ServiceStack, job_id: str, timeout: float = 300) -> tuple[dict, list[dict]]:
    """Poll ``/status`` as the page does until the job ends; every document seen, in order."""
    seen: list[dict] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen.append(stack.get(f"status/{job_id}").json())
        if seen[-1]["status"] in ("completed", "failed", "cancelled", "expired"):
            return seen[-1], seen
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not end: {seen[-1]}")


def test_a_finished_job_is_remade_in_seconds_with_new_options(
    live_service: ServiceStack, brain_2mm
) -> None:
    # Given a scan uploaded with print options as form fields, processed to the end
    with open(brain_2mm, "rb") as f:
        response = requests.post(
            live_service.base_url + "upload",
            files={"file": ("t1.nii.gz", f)},
            data={"structures": "brain,ventricles", "formats": "stl,glb", "smoothing": "5"},
            timeout=60,
        )
    assert response.status_code == 202, response.text
    first_id = response.json()["job_id"]
    first, _ = _poll(live_service, first_id)
    assert first["status"] == "completed", first
    assert [s["name"] for s in first["result"]["structures"]] == ["brain", "ventricles"]
    first_zip = live_service.get(f"download/{first_id}").content
    label_map = live_service.get(f"jobs/{first_id}/files/labels.nii.gz")
    assert label_map.status_code == 200

    # When the same pieces are re-made with other smoothing and formats
    response = requests.post(
        f"{live_service.base_url}jobs/{first_id}/meshes",
        json={"structures": ["brain", "ventricles"], "formats": ["stl", "3mf"], "smoothing": 20},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    same, _ = _poll(live_service, response.json()["job_id"])
    # Then it is done in a fraction of the full job's time (bench/README.md measures it on a
    # quiet machine: the target there is 25 %; this machine is shared with other tests)
    assert same["status"] == "completed", same
    assert same["duration_seconds"] < 0.5 * first["duration_seconds"], (same, first)

    # When only the formats change (the pieces would be meshed exactly as before)
    response = requests.post(
        f"{live_service.base_url}jobs/{first_id}/meshes",
        json={"structures": ["brain", "ventricles"], "formats": ["obj", "glb"], "smoothing": 5},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    formats_id = response.json()["job_id"]
    formats_only, _ = _poll(live_service, formats_id)
    # Then the worker fetched the first job's meshes from the store and reused them
    assert formats_only["status"] == "completed", formats_only
    archive = zipfile.ZipFile(io.BytesIO(live_service.get(f"download/{formats_id}").content))
    assert {"brain.obj", "brain.glb", "ventricles.obj"} <= set(archive.namelist())
    pieces = json.loads(archive.read("report.json"))["structures"]
    assert [(s["name"], s["reused"], s["watertight"]) for s in pieces] == [
        ("brain", True, True),
        ("ventricles", True, True),
    ]

    # When the person asks for hemispheres, hollow, at a print size, as STL and 3MF
    asked = {
        "structures": ["left_hemisphere", "right_hemisphere"],
        "formats": ["stl", "3mf"],
        "hollow_mm": 2,
        "longest_side_mm": 120,
    }
    response = requests.post(
        f"{live_service.base_url}jobs/{first_id}/meshes", json=asked, timeout=30
    )
    assert response.status_code == 202, response.text
    remake_id = response.json()["job_id"]
    assert remake_id != first_id
    remade, seen = _poll(live_service, remake_id)

    # Then a new job completed, with the steps a person reads, and no segmentation
    assert remade["status"] == "completed", remade
    assert remade["kind"] == "remake" and remade["source_job_id"] == first_id
    steps = [s["current_step"] for s in seen if s["status"] == "processing" and s["current_step"]]
    assert set(steps) <= {"Loading segmentation", "Generating meshes", "Exporting", "Packaging"}
    assert "Generating meshes" in steps
    percents = [s["progress_percent"] for s in seen]
    assert percents == sorted(percents) and percents[-1] == 100
    # and its download holds the new pieces
    archive = zipfile.ZipFile(io.BytesIO(live_service.get(f"download/{remake_id}").content))
    names = set(archive.namelist())
    assert {"left_hemisphere.stl", "right_hemisphere.stl", "pieces.3mf", "report.json"} <= names
    report = json.loads(archive.read("report.json"))
    assert report["remade"] and "segmenting" not in report["steps"]
    assert all(s["hollow"] and s["watertight"] for s in report["structures"])
    assert max(report["print"]["size_mm"]) == pytest.approx(120, rel=0.01)
    # and the page's files: the same label map, the new meshes
    again = live_service.get(f"jobs/{remake_id}/files/labels.nii.gz")
    assert again.content == label_map.content
    assert live_service.get(f"jobs/{remake_id}/files/left_hemisphere.stl").status_code == 200
    # and the first job is as it was
    assert live_service.get(f"status/{first_id}").json()["status"] == "completed"
    assert live_service.get(f"download/{first_id}").content == first_zip


def test_walls_that_cannot_fit_are_refused_at_the_job_or_at_once_and_keep_the_source(
    live_service: ServiceStack, brain_2mm
) -> None:
    # Given a scan uploaded asking for 20 mm walls inside the ventricles alone
    with open(brain_2mm, "rb") as f:
        response = requests.post(
            live_service.base_url + "upload",
            files={"file": ("t1.nii.gz", f)},
            data={"structures": "ventricles", "hollow_mm": "20"},
            timeout=60,
        )
    assert response.status_code == 202, response.text
    # Then the job fails and says why (only the segmentation can tell)
    failed, _ = _poll(live_service, response.json()["job_id"])
    assert failed["status"] == "failed"
    assert failed["error_code"] == "invalid_option"
    assert "hollow_mm 20" in failed["error"]

    # Given a finished job
    first_id = live_service.upload(brain_2mm).json()["job_id"]
    first, _ = _poll(live_service, first_id)
    assert first["status"] == "completed", first
    # When a re-make asks for the same walls: its report already says they cannot fit
    response = requests.post(
        f"{live_service.base_url}jobs/{first_id}/meshes",
        json={"structures": ["ventricles"], "hollow_mm": 20},
        timeout=30,
    )
    # Then it is refused at once with the reason, and the job's files stay
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "invalid_option" and "hollow_mm 20" in body["error"]
    assert live_service.get(f"download/{first_id}").status_code == 200
