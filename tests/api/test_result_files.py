"""GET /download/<id> and GET /jobs/<id>/files/<name> with either back end.

Local: the API streams the file. S3 (a real SeaweedFS): the API answers 302 to a presigned link,
which the store serves; with ``MRIMESH_S3_PROXY_DOWNLOADS=1`` the API streams it instead.
The 404/409/410 answers are the same for both.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from pathlib import Path

import pytest
import requests
from flask.testing import FlaskClient

from api.app import create_app
from mrimesh.config import Settings
from mrimesh.lifecycle import Lifecycle
from mrimesh.outcome import JobOutcome
from mrimesh.paths import new_job_id
from mrimesh.storage import RESULT_ZIP, open_storage
from tests.support.s3_server import S3Server

GLB = b"glTF\x02\x00\x00\x00" + bytes(range(256)) * 8
ZIP = b"PK\x05\x06" + b"\0" * 18


def _completed_job(settings: Settings, tmp_path: Path, files: dict[str, bytes]) -> str:
    """A job that completed, with ``files`` (object name -> bytes) in the settings' store."""
    store = JobStore_for(settings)
    job_id = new_job_id()
    store.create(job_id, input_kind="nifti", input_bytes=1, input_voxels=1)
    store.start(job_id, worker_id="test:1")
    storage = open_storage(settings)
    for name, payload in files.items():
        source = tmp_path / f"src-{uuid.uuid4().hex}"
        source.write_bytes(payload)
        storage.put(job_id, name, source)
    store.complete(job_id, JobOutcome(voxels=1), step_seconds={})
    return job_id


def JobStore_for(settings: Settings) -> Lifecycle:  # noqa: N802 - reads as a constructor
    import redis

    return Lifecycle(redis.Redis.from_url(settings.redis_url), settings)


@pytest.fixture(params=["local", "s3", "s3-proxied"])
def backend(request, settings: Settings) -> Settings:
    """The same tests for the local folder, S3 with links, and S3 streamed through the API."""
    if request.param == "local":
        return settings
    s3: S3Server = request.getfixturevalue("s3_server")
    return dataclasses.replace(
        settings,
        **s3.settings_overrides(),
        s3_proxy_downloads=int(request.param == "s3-proxied"),
    )


@pytest.fixture
def api(backend: Settings) -> FlaskClient:
    return create_app({"SETTINGS": backend, "TESTING": True}).test_client()


def _follow(client: FlaskClient, url: str) -> tuple[int, bytes, dict[str, str]]:
    """GET ``url``; a redirect to the store is followed with a real HTTP client."""
    response = client.get(url)
    if response.status_code == 302:
        assert response.headers["Cache-Control"] == "no-store"
        linked = requests.get(response.headers["Location"], timeout=10)
        return linked.status_code, linked.content, dict(linked.headers)
    return response.status_code, response.get_data(), dict(response.headers)


def test_a_result_file_is_served(api, backend, tmp_path) -> None:
    job_id = _completed_job(backend, tmp_path, {"files/brain.glb": GLB, RESULT_ZIP: ZIP})

    status, body, headers = _follow(api, f"/jobs/{job_id}/files/brain.glb")

    assert status == 200
    assert body == GLB
    assert headers["Content-Type"] == "model/gltf-binary"
    redirected = api.get(f"/jobs/{job_id}/files/brain.glb").status_code == 302
    assert redirected == (backend.storage == "s3" and not backend.s3_proxy_downloads)


def test_the_download_is_the_zip_as_an_attachment(api, backend, tmp_path) -> None:
    job_id = _completed_job(backend, tmp_path, {RESULT_ZIP: ZIP})

    status, body, headers = _follow(api, f"/download/{job_id}")

    assert status == 200
    assert body == ZIP
    assert headers["Content-Type"] == "application/zip"
    name = f"mrimesh-{job_id[:8]}.zip"
    assert re.search(rf'filename="?{name}"?(;|$)', headers["Content-Disposition"])
    assert headers["Content-Disposition"].startswith("attachment")


def test_head_answers_without_a_redirect(api, backend, tmp_path) -> None:
    # The page asks "can it be downloaded?" with HEAD; a link is signed for GET only.
    job_id = _completed_job(backend, tmp_path, {RESULT_ZIP: ZIP})
    assert api.head(f"/download/{job_id}").status_code == 200
    assert api.head(f"/jobs/{job_id}/files/brain.glb").status_code == 410


def test_a_missing_file_of_a_completed_job_is_410(api, backend, tmp_path) -> None:
    job_id = _completed_job(backend, tmp_path, {RESULT_ZIP: ZIP})
    response = api.get(f"/jobs/{job_id}/files/labels.nii.gz")
    assert response.status_code == 410
    assert response.get_json()["code"] == "gone"


def test_a_deleted_zip_is_410(api, backend, tmp_path) -> None:
    job_id = _completed_job(backend, tmp_path, {RESULT_ZIP: ZIP})
    open_storage(backend).delete_job(job_id)
    response = api.get(f"/download/{job_id}")
    assert response.status_code == 410
    assert response.get_json()["code"] == "gone"


@pytest.mark.parametrize(
    "name",
    [
        "..%2Fresult.zip",
        "result.zip",
        "Brain.glb",
        "brain.exe",
        "a.b.glb",
        ".glb",
        "x" * 70 + ".glb",
    ],
)
def test_names_outside_the_allowlist_are_404(api, backend, tmp_path, name) -> None:
    job_id = _completed_job(backend, tmp_path, {RESULT_ZIP: ZIP, "files/brain.glb": GLB})
    response = api.get(f"/jobs/{job_id}/files/{name}")
    assert response.status_code == 404
    assert response.get_json()["code"] == "not_found"


def test_a_path_in_the_name_never_reaches_the_store(api, backend, tmp_path) -> None:
    job_id = _completed_job(backend, tmp_path, {RESULT_ZIP: ZIP})
    for path in (f"/jobs/{job_id}/files/../result.zip", f"/jobs/{job_id}/files/a/b.glb"):
        assert api.get(path).status_code == 404


def test_unknown_queued_and_expired_jobs(api, backend, tmp_path) -> None:
    assert api.get(f"/jobs/{uuid.uuid4()}/files/brain.glb").status_code == 404
    assert api.get("/jobs/not-an-id/files/brain.glb").status_code == 404
    store = JobStore_for(backend)
    queued = new_job_id()
    store.create(queued, input_kind="nifti", input_bytes=1, input_voxels=1)
    response = api.get(f"/jobs/{queued}/files/brain.glb")
    assert (response.status_code, response.get_json()["code"]) == (409, "not_ready")
    done = _completed_job(backend, tmp_path, {RESULT_ZIP: ZIP})
    store.expire(done, at=store.jobs.get(done).expires_at + 1)
    for url in (f"/jobs/{done}/files/brain.glb", f"/download/{done}"):
        response = api.get(url)
        assert (response.status_code, response.get_json()["code"]) == (410, "expired")


def test_file_requests_share_the_polling_rate_limit(backend, tmp_path) -> None:
    limited = dataclasses.replace(backend, poll_rate_limit="3 per minute")
    api = create_app({"SETTINGS": limited, "TESTING": True}).test_client()
    job_id = _completed_job(limited, tmp_path, {"files/brain.glb": GLB})
    answers = [api.get(f"/jobs/{job_id}/files/brain.glb").status_code for _ in range(4)]
    assert answers[:3] != [429] * 3 and answers[3] == 429


def test_the_page_may_fetch_from_the_store_only_when_links_lead_there(backend) -> None:
    api = create_app({"SETTINGS": backend, "TESTING": True}).test_client()
    policy = api.get("/").headers["Content-Security-Policy"]
    linked = backend.storage == "s3" and not backend.s3_proxy_downloads
    assert (backend.s3_endpoint in policy) == linked if backend.s3_endpoint else True
    assert "connect-src 'self'" in policy
