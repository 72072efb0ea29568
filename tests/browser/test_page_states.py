"""The page in each state a job can be in, against a scripted API.

The real service is covered by ``test_localstorage_integration.py``; here the API is a
:class:`ScriptedApi`, so a test can put the page in any state on cue (third
in line, a retry, a lost connection, an ETA counting down) and drive time with Playwright's
fake clock.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import JobStorage, PageProblems
from tests.browser.scripted_api import (
    DROP,
    HOLD,
    JOB_ID,
    PASS,
    ScriptedApi,
    completed_body,
    iso_ago,
    status_body,
)

pytestmark = pytest.mark.browser

SCAN = {"name": "scan.nii.gz", "mimeType": "application/gzip", "buffer": b"\x1f\x8b" + b"\0" * 4096}


def upload_scan(page: Page) -> None:
    """Choose a scan and press Upload."""
    page.set_input_files("#file-input", files=[SCAN])
    page.get_by_role("button", name="Upload and process").click()


def resume_job(page: Page, job_storage: JobStorage, site: str, created_at: str) -> None:
    """Open the page with a job remembered from earlier and press Check Status."""
    page.goto(site)
    job_storage.put(JOB_ID, created_at)
    page.reload()
    page.get_by_role("button", name="Check Status").click()


def freeze_clock(page: Page) -> None:
    """Install Playwright's fake clock, paused at now; time then moves only by ``run_for``."""
    now = datetime.now(UTC)
    page.clock.install(time=now - timedelta(seconds=1))
    page.clock.pause_at(now)


def wait_until(page: Page, condition: Callable[[], bool], what: str, timeout: float = 10) -> None:
    """Wait for a Python-side condition (a request count, say).

    Waits with ``page.wait_for_timeout``, not ``time.sleep``: the sync API only runs route
    handlers while Python is inside a Playwright call.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        page.wait_for_timeout(50)


# ---- Loading -----------------------------------------------------------------------------------


def test_page_loads_under_the_production_csp_without_errors(
    page: Page, scripted_api: ScriptedApi, static_site: str, page_problems: PageProblems
) -> None:
    # given a browser with no remembered job
    # when the page loads under the production Content-Security-Policy
    page.goto(static_site)

    # then the upload form and the service summary show, and nothing was blocked
    expect(page.get_by_role("heading", name="Upload a brain MRI")).to_be_visible()
    expect(page.get_by_role("button", name="Upload and process")).to_be_disabled()
    expect(page.locator("#stats-line")).to_have_text(
        "142 scans processed; one usually takes about 7 minutes."
    )
    page_problems.assert_none()


def test_an_unreadable_stored_entry_is_dropped(
    page: Page, scripted_api: ScriptedApi, static_site: str, job_storage: JobStorage
) -> None:
    # given a localStorage entry that is not the page's JSON
    page.goto(static_site)
    page.evaluate("() => localStorage.setItem('mrimesh.job', 'not json')")

    # when the page loads
    page.reload()

    # then there is no prompt, and the entry is gone
    expect(page.get_by_role("heading", name="Upload a brain MRI")).to_be_visible()
    expect(page.locator("#resume")).to_be_hidden()
    assert job_storage.get() is None


# ---- Choosing a file ---------------------------------------------------------------------------


def test_a_file_of_the_wrong_type_is_refused_before_upload(
    page: Page, scripted_api: ScriptedApi, static_site: str
) -> None:
    # given the upload form
    page.goto(static_site)

    # when a text file is chosen
    page.set_input_files(
        "#file-input", files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hi"}]
    )

    # then the page explains which files it takes, and nothing is sent
    expect(page.get_by_role("alert")).to_contain_text("“notes.txt” is not a supported file")
    expect(page.get_by_role("button", name="Upload and process")).to_be_disabled()
    assert scripted_api.count("POST upload") == 0


def test_a_file_over_the_size_limit_is_refused_before_upload(
    page: Page, scripted_api: ScriptedApi, static_site: str
) -> None:
    # given a page whose limit is 1 KB
    page.goto(static_site)
    page.evaluate(
        "() => { document.getElementById('upload-form').dataset.maxUploadBytes = '1024'; }"
    )

    # when a 4 KB scan is chosen
    page.set_input_files("#file-input", files=[SCAN])

    # then the page names both sizes
    expect(page.get_by_role("alert")).to_have_text("“scan.nii.gz” is 4.0 KB; the limit is 1.0 KB.")
    expect(page.get_by_role("button", name="Upload and process")).to_be_disabled()


def test_a_dropped_file_is_chosen_like_a_picked_one(
    page: Page, scripted_api: ScriptedApi, static_site: str
) -> None:
    # given the upload form
    page.goto(static_site)

    # when a scan is dropped on the drop zone
    page.evaluate(
        """() => {
            const data = new DataTransfer();
            data.items.add(new File([new Uint8Array(2048)], 'dropped.mgz'));
            const zone = document.getElementById('dropzone');
            zone.dispatchEvent(new DragEvent('dragenter', { dataTransfer: data, bubbles: true }));
            zone.dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true }));
        }"""
    )

    # then it is the chosen file, ready to upload
    expect(page.locator("#file-name")).to_have_text("dropped.mgz")
    expect(page.locator("#file-size")).to_have_text("2.0 KB")
    expect(page.get_by_role("button", name="Upload and process")).to_be_enabled()
    expect(page.locator("#dropzone")).not_to_have_class(re.compile("is-dragging"))


def test_an_upload_shows_its_progress_and_can_be_cancelled(
    page: Page, scripted_api: ScriptedApi, static_site: str, job_storage: JobStorage
) -> None:
    # given a server that takes the whole file but has not answered yet
    scripted_api.upload_reply = PASS
    page.goto(static_site)

    # when a 2 MB scan is uploaded
    big_scan = {**SCAN, "buffer": b"\x1f\x8b" + bytes(2 * 1024 * 1024)}
    page.set_input_files("#file-input", files=[big_scan])
    page.get_by_role("button", name="Upload and process").click()

    # then the upload bar shows the bytes sent, then that the server is checking the file
    expect(page.locator("#upload-progress")).to_be_visible()
    expect(page.locator("#upload-progress-text")).to_have_text("done, checking the file…")
    expect(page.locator("#upload-progress")).to_have_js_property("value", 100)
    expect(page.get_by_role("button", name="Upload and process")).to_be_hidden()

    # when the upload is cancelled
    page.get_by_role("button", name="Cancel upload").click()

    # then the form is back, without an error, and nothing is remembered
    expect(page.get_by_role("button", name="Upload and process")).to_be_enabled()
    expect(page.locator("#upload-progress")).to_be_hidden()
    expect(page.locator("#upload-error")).to_be_hidden()
    assert job_storage.get() is None


def test_the_upload_form_sends_the_pieces_and_formats_chosen(
    page: Page, scripted_api: ScriptedApi, static_site: str
) -> None:
    # given the upload form's optional choices, ticked as the service's defaults
    page.goto(static_site)
    page.get_by_text("Choose the pieces and file formats (optional)").click()
    choices = page.locator("#upload-options")
    for name in ("Whole brain", "White matter", "Ventricles", "STL"):
        expect(choices.get_by_role("checkbox", name=name, exact=True)).to_be_checked()

    # when the two hemispheres are chosen instead of the whole brain, as STL only
    choices.get_by_role("checkbox", name="Whole brain").uncheck()
    choices.get_by_role("checkbox", name="Left hemisphere").check()
    choices.get_by_role("checkbox", name="Right hemisphere").check()
    for fmt in ("GLB", "3MF"):
        choices.get_by_role("checkbox", name=re.compile(f"^{fmt} ")).uncheck()
    upload_scan(page)

    # then the upload carries them as form fields by their API names, ahead of the file
    expect(page.locator("#job-id")).to_have_text(JOB_ID)
    (body,) = scripted_api.upload_bodies
    fields = (
        b'name="structures"\r\n\r\nleft_hemisphere,right_hemisphere,white_matter,ventricles\r\n'
    )
    assert fields in body
    assert b'name="formats"\r\n\r\nstl\r\n' in body
    assert body.index(b'name="formats"') < body.index(b'name="file"')


def test_an_untouched_upload_form_leaves_the_choices_to_the_service(
    page: Page, scripted_api: ScriptedApi, static_site: str
) -> None:
    # given the upload form as it opens
    page.goto(static_site)

    # when a scan is uploaded without opening the choices
    upload_scan(page)

    # then only the file is sent: the service's own defaults apply
    expect(page.locator("#job-id")).to_have_text(JOB_ID)
    (body,) = scripted_api.upload_bodies
    assert b'name="file"' in body
    assert b'name="structures"' not in body and b'name="formats"' not in body


@pytest.mark.parametrize(
    ("status", "body", "shown"),
    [
        (413, {"error": "The file is larger than 1 GB.", "code": "too_large"}, "larger than 1 GB"),
        (
            429,
            {"error": "Too many uploads; try again in a minute.", "code": "rate_limited"},
            "Too many uploads",
        ),
        (503, {}, "temporarily unavailable"),
    ],
)
def test_an_upload_refused_by_the_server_shows_why(
    page: Page, scripted_api: ScriptedApi, static_site: str, job_storage: JobStorage,
    status: int, body: dict, shown: str,
) -> None:  # fmt: skip
    # given a server that refuses the upload
    scripted_api.upload_reply = (status, body)
    page.goto(static_site)

    # when a scan is uploaded
    upload_scan(page)

    # then its message (or a plain fallback) shows, the form is usable again, nothing is stored
    expect(page.get_by_role("alert")).to_contain_text(shown)
    expect(page.get_by_role("button", name="Upload and process")).to_be_enabled()
    assert job_storage.get() is None


# ---- Waiting and processing --------------------------------------------------------------------


def test_a_queued_job_shows_its_place_in_line_and_no_invented_eta(
    page: Page, scripted_api: ScriptedApi, static_site: str, job_storage: JobStorage
) -> None:
    # given a server that puts the job third in line, with no estimate yet
    scripted_api.reply_with_status((200, status_body("queued", queue_position=3, eta_seconds=None)))
    page.goto(static_site)

    # when a scan is uploaded
    upload_scan(page)

    # then the page says where the job stands, and remembers it
    expect(page.get_by_role("heading", name="Waiting in line")).to_be_visible()
    expect(page.locator("#job-queue")).to_have_text("You are 3rd in line")
    expect(page.locator("#job-eta")).to_have_text("estimating…")
    assert job_storage.get() == {
        "job_id": JOB_ID,
        "created_at": scripted_api.upload_reply[1]["created_at"],
    }


def test_progress_step_and_percent_are_shown_accessibly(
    page: Page, scripted_api: ScriptedApi, static_site: str, job_storage: JobStorage
) -> None:
    # given a job 45 % through mesh generation
    scripted_api.reply_with_status(
        (200, status_body("processing", progress_percent=45, current_step="Generating meshes",
                          eta_seconds=170, started_at=iso_ago(minutes=2)))
    )  # fmt: skip

    # when its status is checked
    resume_job(page, job_storage, static_site, iso_ago(minutes=3))

    # then the step sits in a polite live region and the bar reports its value
    step = page.locator("#job-step")
    expect(step).to_have_text("Generating meshes")
    expect(step).to_have_attribute("aria-live", "polite")
    bar = page.get_by_role("progressbar", name="Processing progress")
    expect(bar).to_have_attribute("aria-valuenow", "45")
    expect(page.locator("#job-progress-percent")).to_have_text("45%")
    expect(page.locator("#job-eta")).to_have_text("about 3 minutes")
    expect(page.get_by_role("button", name="Cancel job")).to_be_visible()


def test_a_retried_job_says_which_attempt_it_is_on(
    page: Page, scripted_api: ScriptedApi, static_site: str, job_storage: JobStorage
) -> None:
    # given a job on its second of three attempts
    scripted_api.reply_with_status(
        (200, status_body("processing", progress_percent=10, current_step="Preparing",
                          attempt=2, max_attempts=3))
    )  # fmt: skip

    # when its status is checked
    resume_job(page, job_storage, static_site, iso_ago(minutes=10))

    # then the page says it is being retried
    expect(page.locator("#job-notice")).to_contain_text("being retried (attempt 2 of 3)")


def test_status_is_polled_every_two_seconds_one_request_at_a_time(
    page: Page, scripted_api: ScriptedApi, static_site: str, job_storage: JobStorage
) -> None:
    # given a paused clock and a server whose third answer never comes
    scripted_api.reply_with_status(
        (200, status_body("processing", progress_percent=20, current_step="Segmenting")),
        (200, status_body("processing", progress_percent=40, current_step="Cleaning up")),
        HOLD,
    )
    freeze_clock(page)
    resume_job(page, job_storage, static_site, iso_ago(minutes=1))
    expect(page.locator("#job-step")).to_have_text("Segmenting")

    # when just under two seconds pass, nothing is asked; at two seconds, the second poll
    page.clock.run_for(1900)
    page.wait_for_timeout(200)
    assert scripted_api.count("GET status/") == 1
    page.clock.run_for(100)
    expect(page.locator("#job-step")).to_have_text("Cleaning up")
    # ...and two seconds after that answer arrived, the third
    page.clock.run_for(2000)
    wait_until(page, lambda: scripted_api.count("GET status/") == 3, "the third poll")

    # then while the third is unanswered, no further poll is started
    page.clock.run_for(30_000)
    page.wait_for_timeout(300)
    assert scripted_api.count("GET status/") == 3


def test_the_eta_counts_down_between_polls(
    page: Page, scripted_api: ScriptedApi, static_site: str, job_storage: JobStorage
) -> None:
    # given a job expected to finish in 150 s, and a server that then stops answering
    scripted_api.reply_with_status(
        (200, status_body("processing", progress_percent=30, current_step="Segmenting",
                          eta_seconds=150)),
        HOLD,
    )  # fmt: skip
    freeze_clock(page)
    resume_job(page, job_storage, static_site, iso_ago(minutes=1))
    eta = page.locator("#job-eta")
    expect(eta).to_have_text("about 3 minutes")

    # when time passes, the estimate follows it each second
    page.clock.run_for(60_000)
    expect(eta).to_have_text("about 2 minutes")
    page.clock.run_for(45_000)
    expect(eta).to_have_text("less than a minute")

    # then, long past the estimate, it does not pretend
    page.clock.run_for(120_000)
    expect(eta).to_have_text("a little longer than expected")


def test_a_lost_connection_is_retried_until_the_server_answers(
    page: Page, scripted_api: ScriptedApi, static_site: str, job_storage: JobStorage
) -> None:
    # given a server that drops the first status request, then answers
    scripted_api.reply_with_status(
        DROP, (200, status_body("processing", progress_percent=50, current_step="Cleaning up"))
    )
    freeze_clock(page)

    # when the job is checked
    resume_job(page, job_storage, static_site, iso_ago(minutes=1))

    # then the page says it is retrying, and recovers on its own
    expect(page.locator("#job-notice")).to_contain_text("Trying again")
    page.clock.run_for(5000)
    expect(page.locator("#job-step")).to_have_text("Cleaning up")
    expect(page.locator("#job-notice")).to_be_hidden()
    assert job_storage.get() is not None


# ---- Endings -----------------------------------------------------------------------------------


def test_a_completed_job_lists_structures_and_stops_polling(
    page: Page, scripted_api: ScriptedApi, static_site: str, job_storage: JobStorage
) -> None:
    # given a job that completes on the second poll
    scripted_api.reply_with_status(
        (200, status_body("processing", progress_percent=90, current_step="Packaging")),
        (200, completed_body()),
    )
    freeze_clock(page)
    resume_job(page, job_storage, static_site, iso_ago(minutes=5))
    expect(page.locator("#job-step")).to_have_text("Packaging")

    # when the next poll finds it completed
    page.clock.run_for(2000)

    # then the structures and the download show, and polling has stopped
    expect(page.get_by_role("heading", name="Your meshes are ready")).to_be_visible()
    rows = page.locator("#structures-body tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("Left hemisphere")
    expect(rows.nth(0)).to_contain_text("512.3 mL")
    expect(rows.nth(0)).to_contain_text("184,220")
    expect(rows.nth(1)).to_contain_text("Needs repair")
    expect(page.locator("#result-note")).to_contain_text("Processed in 3 min 5 s.")
    expect(page.get_by_role("list", name="Notes about your scan")).to_have_text(
        "4D input with 2 volumes: only the first volume was used."
    )
    expect(page.get_by_role("link", name="Download meshes (zip)")).to_have_attribute(
        "href", f"download/{JOB_ID}"
    )
    expect(page.get_by_role("button", name="Cancel job")).to_be_hidden()
    polls = scripted_api.count("GET status/")
    page.clock.run_for(20_000)
    page.wait_for_timeout(300)
    assert scripted_api.count("GET status/") == polls


def test_downloading_forgets_the_job(
    page: Page, scripted_api: ScriptedApi, static_site: str, job_storage: JobStorage
) -> None:
    # given a completed job the browser remembers
    scripted_api.reply_with_status((200, completed_body()))
    resume_job(page, job_storage, static_site, iso_ago(minutes=5))
    download_link = page.get_by_role("link", name="Download meshes (zip)")
    expect(download_link).to_be_visible()
    assert job_storage.get() is not None

    # when the download is clicked
    with page.expect_download() as download_info:
        download_link.click()

    # then the zip arrives, the page says so, and the entry is gone
    assert download_info.value.suggested_filename == f"mrimesh-{JOB_ID}.zip"
    expect(page.locator("#job-notice")).to_have_text("Your download has started.")
    assert job_storage.get() is None


def test_a_download_that_is_gone_is_reported_and_forgotten(
    page: Page, scripted_api: ScriptedApi, static_site: str, job_storage: JobStorage
) -> None:
    # given a completed job whose files the server has since deleted
    scripted_api.reply_with_status((200, completed_body()))
    scripted_api.download_check_reply = (410, {})
    resume_job(page, job_storage, static_site, iso_ago(hours=20))

    # when Download is clicked
    page.get_by_role("link", name="Download meshes (zip)").click()

    # then the page says the job is gone, instead of a failed browser download
    expect(page.locator("#job-error")).to_have_text("This job has expired or was not found.")
    expect(page.get_by_role("link", name="Download meshes (zip)")).to_be_hidden()
    assert scripted_api.count(f"HEAD download/{JOB_ID}") == 1
    assert job_storage.get() is None


def test_a_failed_job_shows_the_servers_reason(
    page: Page, scripted_api: ScriptedApi, static_site: str, job_storage: JobStorage
) -> None:
    # given a job that failed
    reason = "The scan could not be read as a brain MRI: it has only 2 dimensions."
    scripted_api.reply_with_status(
        (200, status_body("failed", error=reason, error_code="invalid_image"))
    )

    # when its status is checked
    resume_job(page, job_storage, static_site, iso_ago(minutes=5))

    # then the reason shows, with a way to start again
    expect(page.get_by_role("heading", name="Processing failed")).to_be_visible()
    expect(page.locator("#job-error")).to_have_text(reason)
    expect(page.get_by_role("button", name="Start New Upload")).to_be_visible()


def test_cancelling_a_job_stops_it_and_forgets_it(
    page: Page, scripted_api: ScriptedApi, static_site: str, job_storage: JobStorage
) -> None:
    # given a job being processed
    scripted_api.reply_with_status(
        (200, status_body("processing", progress_percent=20, current_step="Segmenting"))
    )
    resume_job(page, job_storage, static_site, iso_ago(minutes=1))
    expect(page.locator("#job-step")).to_have_text("Segmenting")

    # when Cancel is pressed
    page.get_by_role("button", name="Cancel job").click()

    # then the server is asked to cancel, the page says so and forgets the job
    expect(page.get_by_role("heading", name="Job cancelled")).to_be_visible()
    assert scripted_api.count(f"DELETE jobs/{JOB_ID}") == 1
    assert job_storage.get() is None
    expect(page.get_by_role("button", name="Start New Upload")).to_be_visible()


def test_cancel_stays_disabled_while_its_request_is_in_flight(
    page: Page, scripted_api: ScriptedApi, static_site: str, job_storage: JobStorage
) -> None:
    # given a job being processed, and a cancel request the server is slow to answer
    scripted_api.reply_with_status(
        (200, status_body("processing", progress_percent=20, current_step="Segmenting"))
    )
    scripted_api.cancel_reply = HOLD
    resume_job(page, job_storage, static_site, iso_ago(minutes=1))
    cancel = page.get_by_role("button", name="Cancel job")
    expect(cancel).to_be_enabled()

    # when Cancel is pressed and the page polls again while the request is pending
    cancel.click()
    polls = scripted_api.count("GET status/")
    wait_until(page, lambda: scripted_api.count("GET status/") > polls, "the next poll")

    # then the button is still disabled, so a second press cannot send a second request
    expect(cancel).to_be_disabled()
    assert scripted_api.count(f"DELETE jobs/{JOB_ID}") == 1


def test_cancelling_a_job_that_just_finished_shows_how_it_ended(
    page: Page, scripted_api: ScriptedApi, static_site: str, job_storage: JobStorage
) -> None:
    # given a job that completes while the person presses Cancel
    scripted_api.reply_with_status(
        (200, status_body("processing", progress_percent=95, current_step="Packaging")),
        (200, completed_body()),
    )
    scripted_api.cancel_reply = (
        409,
        {"error": "This job has already finished.", "code": "already_finished"},
    )
    resume_job(page, job_storage, static_site, iso_ago(minutes=1))
    expect(page.locator("#job-step")).to_have_text("Packaging")

    # when Cancel is pressed
    page.get_by_role("button", name="Cancel job").click()

    # then the page shows the finished job instead of an error
    expect(page.get_by_role("heading", name="Your meshes are ready")).to_be_visible()
    expect(page.locator("#job-error")).to_be_hidden()


# ---- Storage -----------------------------------------------------------------------------------


def test_the_page_works_without_local_storage(
    page: Page, scripted_api: ScriptedApi, static_site: str, page_problems: PageProblems
) -> None:
    # given a browser that refuses localStorage (as some private modes do)
    page.add_init_script(
        "Object.defineProperty(window, 'localStorage', "
        "{ get() { throw new DOMException('denied', 'SecurityError'); } });"
    )
    scripted_api.reply_with_status(
        (200, status_body("processing", progress_percent=5, current_step="Loading scan"))
    )
    page.goto(static_site)

    # when a scan is uploaded
    upload_scan(page)

    # then the job is followed as usual, without errors
    expect(page.locator("#job-step")).to_have_text("Loading scan")
    page_problems.assert_none()


def test_resume_prompt_reports_the_jobs_age(
    page: Page, scripted_api: ScriptedApi, static_site: str, job_storage: JobStorage
) -> None:
    # given a job remembered from two hours ago
    page.goto(static_site)
    job_storage.put(JOB_ID, iso_ago(hours=2, minutes=5))

    # when the page is opened again
    page.reload()

    # then it offers to resume, in words
    expect(page.get_by_role("heading", name="Resume previous job?")).to_be_visible()
    expect(page.locator("#resume-text")).to_have_text(
        "You have a job from 2 hours ago that may still be processing."
    )
    expect(page.get_by_role("button", name="Check Status")).to_be_visible()
    expect(page.get_by_role("button", name="Start New Upload")).to_be_visible()


def test_a_job_the_server_forgot_is_reported_and_forgotten(
    page: Page, scripted_api: ScriptedApi, static_site: str, job_storage: JobStorage
) -> None:
    # given a remembered job the server answers 404 for
    scripted_api.reply_with_status((404, {"error": "No such job.", "code": "not_found"}))

    # when its status is checked
    resume_job(page, job_storage, static_site, iso_ago(hours=1))

    # then the page says so and forgets it
    expect(page.get_by_role("alert")).to_have_text("This job has expired or was not found.")
    assert job_storage.get() is None


def test_an_expired_status_is_reported_and_forgotten(
    page: Page, scripted_api: ScriptedApi, static_site: str, job_storage: JobStorage
) -> None:
    # given a remembered job the server reports as expired
    scripted_api.reply_with_status((200, status_body("expired")))

    # when its status is checked
    resume_job(page, job_storage, static_site, iso_ago(hours=23))

    # then the page says so and forgets it
    expect(page.get_by_role("alert")).to_have_text("This job has expired or was not found.")
    assert job_storage.get() is None


# ---- Layout ------------------------------------------------------------------------------------


def test_a_completed_job_fits_a_phone_screen(
    page: Page, scripted_api: ScriptedApi, static_site: str, job_storage: JobStorage,
    has_horizontal_scroll: Callable[[], bool],
) -> None:  # fmt: skip
    # given a phone-sized window
    page.set_viewport_size({"width": 375, "height": 740})
    scripted_api.reply_with_status((200, completed_body()))

    # when the widest state, a completed job with its table, is shown
    resume_job(page, job_storage, static_site, iso_ago(minutes=5))
    expect(page.locator("#structures-body tr")).to_have_count(2)

    # then nothing scrolls sideways and every value is on screen
    assert not has_horizontal_scroll()
    for text in ("512.3 mL", "184,220", "Needs repair"):
        box = page.get_by_text(text, exact=True).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375


def test_dark_mode_follows_the_system_setting(
    page: Page, scripted_api: ScriptedApi, static_site: str
) -> None:
    # given a system set to dark mode
    page.emulate_media(color_scheme="dark")

    # when the page loads
    page.goto(static_site)

    # then its background is dark
    background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    red, green, blue = (
        int(part) for part in background[background.index("(") + 1 : -1].split(",")[:3]
    )
    assert max(red, green, blue) < 64, background
