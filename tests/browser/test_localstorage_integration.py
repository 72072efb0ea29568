"""The page against the real service: upload, progress, resume after reload, download.

Runs ``live_service`` (redis-server, gunicorn API, a Dramatiq worker) from ``tests/conftest.py``
and a real brain MRI (nilearn's MNI152 T1 at 2 mm). Set ``MRIMESH_SCREENSHOT=<path.png>`` to
save a picture of the finished job.
"""

from __future__ import annotations

import os
import re
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import CHROMIUM_PATH, JobStorage, PageProblems
from tests.browser.scripted_api import iso_ago

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.slow,
    # Decided before any fixture runs, so a machine without Chromium never starts the service.
    pytest.mark.skipif(
        not CHROMIUM_PATH.exists(),
        reason=f"browser tests need Chromium at {CHROMIUM_PATH} (apt-get install chromium)",
    ),
]

#: Longest a 2 mm brain may take from upload to completed, in ms.
JOB_TIMEOUT_MS = 180_000
#: Environment variable naming where to save a screenshot of the finished job.
SCREENSHOT_ENV = "MRIMESH_SCREENSHOT"
GONE_MESSAGE = "This job has expired or was not found."


def open_page(page: Page, base_url: str) -> None:
    """Load the page and wait for its script to choose what to show."""
    page.goto(base_url)
    expect(page.locator("#upload, #resume").first).to_be_attached()
    expect(page.locator("section.card:visible")).to_have_count(1)


def test_localstorage_integration(
    page: Page,
    live_service: Any,
    brain_2mm: Path,
    job_storage: JobStorage,
    page_problems: PageProblems,
    tmp_path: Path,
) -> None:
    # given the page, with no job remembered
    open_page(page, live_service.base_url)
    expect(page.get_by_role("heading", name="Upload a brain MRI")).to_be_visible()
    assert job_storage.get() is None

    # when a real brain MRI is uploaded
    page.set_input_files("#file-input", str(brain_2mm))
    with page.expect_response(lambda r: r.url.endswith("/upload")) as upload_info:
        page.get_by_role("button", name="Upload and process").click()
    created = upload_info.value.json()
    assert upload_info.value.status == 202, created

    # then progress shows and the job is remembered as {job_id, created_at}
    expect(page.locator("#job-id")).to_have_text(created["job_id"])
    expect(page.locator("#job-status")).to_have_attribute(
        "data-status", re.compile(r"^(queued|processing|completed)$")
    )
    expect(page.locator("#job-progress-percent")).to_have_text(re.compile(r"^\d{1,3}%$"))
    assert job_storage.get() == {"job_id": created["job_id"], "created_at": created["created_at"]}

    # when the page is reloaded
    page.reload()

    # then it offers to resume the job, saying how old it is
    expect(page.get_by_role("heading", name="Resume previous job?")).to_be_visible()
    expect(page.locator("#resume-text")).to_have_text(
        re.compile(
            r"^You have a job from (just now|\d+ minutes? ago) that may still be processing\.$"
        )
    )

    # when Check Status is pressed
    page.get_by_role("button", name="Check Status").click()

    # then the job is followed to completion, with a summary of what was made
    expect(page.locator("#job-status")).to_have_attribute(
        "data-status", re.compile(r"^(completed|failed|cancelled|expired)$"), timeout=JOB_TIMEOUT_MS
    )
    assert page.locator("#job-status").get_attribute("data-status") == "completed", page.locator(
        "#job-error"
    ).text_content()
    expect(page.get_by_role("heading", name="Your meshes are ready")).to_be_visible()
    expect(page.locator("#structures-body tr").first).to_be_visible()
    expect(page.locator("#structures-body")).to_contain_text("mL")
    assert job_storage.get() is not None

    # then the result viewer draws the job's meshes, read one by one from jobs/<id>/files/
    expect(page.locator("#meshes-pane")).to_have_attribute("data-state", "ready", timeout=60_000)
    expect(page.get_by_role("img", name=re.compile(r"^3D view of .+"))).to_be_visible()
    if os.environ.get(SCREENSHOT_ENV):
        page.screenshot(path=os.environ[SCREENSHOT_ENV], full_page=True)

    # when Download is clicked
    with page.expect_download(timeout=60_000) as download_info:
        page.get_by_role("link", name="Download meshes (zip)").click()
    archive = tmp_path / "meshes.zip"
    download_info.value.save_as(archive)

    # then a zip with STL meshes arrives, and the browser no longer remembers the job
    with zipfile.ZipFile(archive) as zipped:
        names = zipped.namelist()
    assert any(name.lower().endswith(".stl") for name in names), names
    assert job_storage.get() is None
    page.reload()
    expect(page.get_by_role("heading", name="Upload a brain MRI")).to_be_visible()
    expect(page.locator("#resume")).to_be_hidden()
    page_problems.assert_none()


def test_start_new_upload_clears_the_remembered_job(
    page: Page, live_service: Any, job_storage: JobStorage
) -> None:
    # given a job remembered from an hour ago
    open_page(page, live_service.base_url)
    job_storage.put(str(uuid.uuid4()), iso_ago(hours=1, minutes=2))
    page.reload()
    expect(page.locator("#resume-text")).to_have_text(
        "You have a job from 1 hour ago that may still be processing."
    )

    # when Start New Upload is pressed
    page.get_by_role("button", name="Start New Upload").click()

    # then the upload form shows and the job is forgotten, for good
    expect(page.get_by_role("heading", name="Upload a brain MRI")).to_be_visible()
    assert job_storage.get() is None
    page.reload()
    expect(page.get_by_role("heading", name="Upload a brain MRI")).to_be_visible()
    expect(page.locator("#resume")).to_be_hidden()


@pytest.mark.parametrize(
    "job_id", [str(uuid.uuid4()), "not-a-job-id"], ids=["unknown", "malformed"]
)
def test_a_job_the_server_does_not_know_is_reported_and_forgotten(
    page: Page, live_service: Any, job_storage: JobStorage, page_problems: PageProblems, job_id: str
) -> None:
    # given a remembered job the server never had
    open_page(page, live_service.base_url)
    job_storage.put(job_id, iso_ago(minutes=30))
    page.reload()

    # when Check Status is pressed
    page.get_by_role("button", name="Check Status").click()

    # then the page says it expired or was not found, and forgets it
    expect(page.locator("#job-error")).to_have_text(GONE_MESSAGE)
    expect(page.get_by_role("button", name="Start New Upload")).to_be_visible()
    assert job_storage.get() is None
    page_problems.assert_none()


def test_a_job_older_than_a_day_is_not_offered(
    page: Page, live_service: Any, job_storage: JobStorage
) -> None:
    # given a job remembered from 25 hours ago, past the server's 24 h lifetime
    open_page(page, live_service.base_url)
    job_storage.put(str(uuid.uuid4()), iso_ago(hours=25))

    # when the page is opened again
    page.reload()

    # then there is no prompt, and the stale entry is gone
    expect(page.get_by_role("heading", name="Upload a brain MRI")).to_be_visible()
    expect(page.locator("#resume")).to_be_hidden()
    assert job_storage.get() is None


def test_a_job_just_under_a_day_old_is_still_offered(
    page: Page, live_service: Any, job_storage: JobStorage
) -> None:
    # given a job remembered from 23 hours ago
    open_page(page, live_service.base_url)
    job_storage.put(str(uuid.uuid4()), iso_ago(hours=23, minutes=30))

    # when the page is opened again
    page.reload()

    # then it is offered, with its age
    expect(page.locator("#resume-text")).to_have_text(
        "You have a job from 23 hours ago that may still be processing."
    )


def test_a_file_that_is_not_an_mri_shows_the_servers_reason(
    page: Page, live_service: Any, job_storage: JobStorage, tmp_path: Path,
    page_problems: PageProblems,
) -> None:  # fmt: skip
    # given a text file named like a NIfTI
    fake = tmp_path / "scan.nii"
    fake.write_text("This is a text file, not a brain MRI.\n" * 20)
    open_page(page, live_service.base_url)

    # when it is uploaded
    page.set_input_files("#file-input", str(fake))
    with page.expect_response(lambda r: r.url.endswith("/upload")) as upload_info:
        page.get_by_role("button", name="Upload and process").click()

    # then the server refuses it and the page shows the server's own words
    refused = upload_info.value
    assert 400 <= refused.status < 500, refused.text()
    body = refused.json()
    assert body["code"] == "invalid_image", body
    expect(page.locator("#upload-error")).to_have_text(body["error"])
    expect(page.get_by_role("button", name="Upload and process")).to_be_enabled()
    assert job_storage.get() is None
    page_problems.assert_none()


def test_the_page_fits_a_phone_screen(
    page: Page, live_service: Any, job_storage: JobStorage, tmp_path: Path,
    has_horizontal_scroll: Callable[[], bool],
) -> None:  # fmt: skip
    # given a 375 × 740 window
    page.set_viewport_size({"width": 375, "height": 740})

    # when the upload form, a refused file and the resume prompt are shown
    # then none of them scrolls sideways
    open_page(page, live_service.base_url)
    expect(page.get_by_role("heading", name="Upload a brain MRI")).to_be_visible()
    assert not has_horizontal_scroll(), "upload form"

    long_name = tmp_path / ("a-very-long-file-name-without-any-spaces-" * 3 + ".nii")
    long_name.write_text("not an MRI")
    page.set_input_files("#file-input", str(long_name))
    page.get_by_role("button", name="Upload and process").click()
    expect(page.locator("#upload-error")).to_be_visible()
    assert not has_horizontal_scroll(), "upload error"

    job_storage.put(str(uuid.uuid4()), iso_ago(hours=2))
    page.reload()
    expect(page.get_by_role("heading", name="Resume previous job?")).to_be_visible()
    assert not has_horizontal_scroll(), "resume prompt"
