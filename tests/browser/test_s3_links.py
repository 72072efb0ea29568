"""In real Chromium, the page's fetches of a job's files work when the API redirects to the store.

With ``MRIMESH_STORAGE=s3`` the API answers ``/jobs/<id>/files/<name>`` and ``/download/<id>``
with a 302 to a presigned link on another origin (a real SeaweedFS). The page's 3D preview
fetches those files from script, so three things must hold, and this test checks them in the
browser itself rather than in Python: the page's Content-Security-Policy lets it connect to the
store's origin, the bucket's CORS rule (``python -m mrimesh.storage_s3 configure-bucket``) lets it
read the answer, and a ``Range`` request (how the preview reads the zip) survives the redirect.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from mrimesh.config import Settings
from mrimesh.lifecycle import Lifecycle
from mrimesh.outcome import JobOutcome
from mrimesh.storage import RESULT_ZIP, open_storage
from mrimesh.storage_s3 import S3Storage
from tests.support.redis_server import RedisServer
from tests.support.s3_server import S3Server
from tests.support.service import ServiceStack

GLB = b"glTF\x02\x00\x00\x00" + bytes(range(256)) * 64


@pytest.fixture
def s3_api(tmp_path: Path, s3_server: S3Server) -> Iterator[tuple[ServiceStack, Settings]]:
    redis_server = RedisServer(tmp_path / "redis", persistent=False).start()
    stack = ServiceStack(
        redis_url=redis_server.url,
        data_dir=tmp_path / "data",
        log_dir=tmp_path / "logs",
        extra_env=s3_server.env(),
    )
    settings = Settings.from_env({}, redis_url=redis_server.url, **s3_server.settings_overrides())
    try:
        stack.start_api()
        yield stack, settings
    finally:
        stack.stop_all()
        redis_server.stop()


def _completed_job(settings: Settings, tmp_path: Path) -> str:
    lifecycle = Lifecycle(redis_client_for(settings), settings)
    job_id = str(uuid.uuid4())
    lifecycle.create(job_id, input_kind="nifti", input_bytes=1, input_voxels=1)
    lifecycle.start(job_id, worker_id="test:1")
    storage = open_storage(settings)
    source = tmp_path / "brain.glb"
    source.write_bytes(GLB)
    storage.put(job_id, "files/brain.glb", source)
    storage.put(job_id, RESULT_ZIP, source)
    lifecycle.complete(job_id, JobOutcome(voxels=1), step_seconds={})
    return job_id


def redis_client_for(settings: Settings):
    import redis

    return redis.Redis.from_url(settings.redis_url)


_FETCH = """async ([url, range]) => {
  const init = { cache: 'no-store', credentials: 'same-origin' };
  if (range) init.headers = { Range: range };
  try {
    const response = await fetch(url, init);
    const body = new Uint8Array(await response.arrayBuffer());
    return { status: response.status, length: body.length, first: Array.from(body.slice(0, 4)),
             redirected: response.redirected, url: response.url };
  } catch (error) {
    return { error: String(error) };
  }
}"""


def test_the_page_reads_a_jobs_files_through_presigned_links(
    page: Page, s3_api, s3_server: S3Server, tmp_path: Path
) -> None:
    stack, settings = s3_api
    origin = stack.base_url.rstrip("/")
    storage = open_storage(settings)
    assert isinstance(storage, S3Storage)
    storage.configure_bucket(origins=[origin])
    job_id = _completed_job(settings, tmp_path)
    violations: list[str] = []
    page.on(
        "console", lambda m: violations.append(m.text) if "Content Security" in m.text else None
    )
    page.goto(stack.base_url)

    # A whole file, as the preview fetches a mesh
    whole = page.evaluate(_FETCH, [f"jobs/{job_id}/files/brain.glb", None])
    assert whole.get("error") is None, whole
    assert whole["status"] == 200 and whole["length"] == len(GLB)
    assert whole["redirected"] and whole["url"].startswith(s3_server.endpoint)
    assert whole["first"] == list(b"glTF")
    # A byte range of the zip, as the preview reads a zip's directory
    part = page.evaluate(_FETCH, [f"download/{job_id}", "bytes=0-3"])
    assert part.get("error") is None, part
    assert (part["status"], part["length"], part["first"]) == (206, 4, list(b"glTF"))
    assert violations == []


def test_without_the_bucket_cors_rule_the_browser_is_refused(
    page: Page, s3_api, tmp_path: Path
) -> None:
    # The check above is not vacuous: with no CORS rule for the page's origin, the same fetch fails.
    stack, settings = s3_api
    storage = open_storage(settings)
    assert isinstance(storage, S3Storage)
    storage.configure_bucket(origins=["https://elsewhere.example"])
    job_id = _completed_job(settings, tmp_path)
    page.goto(stack.base_url)
    answer = page.evaluate(_FETCH, [f"jobs/{job_id}/files/brain.glb", None])
    assert "error" in answer and "Failed to fetch" in answer["error"], answer
