"""The results page against the real service: a real brain MRI becomes a job whose brain-only
scan, label map and meshes niivue shows; a structure is hidden; other print options re-make the
files in seconds; the download holds the new files.

Runs ``live_service`` (redis-server, gunicorn API, a Dramatiq worker) from ``tests/conftest.py``.
Set ``MRIMESH_SCREENSHOT_DIR=<folder>`` to save the results page at 1100 and 375 px wide
(``results-1100.png`` is ``docs/screenshot.png``).
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import CHROMIUM_PATH, JobStorage, PageProblems
from tests.browser.test_results_page import wait_for_pixels

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM_PATH.exists(),
        reason=f"browser tests need Chromium at {CHROMIUM_PATH} (apt-get install chromium)",
    ),
]

#: Longest a 2 mm brain may take from upload to completed, in ms.
JOB_TIMEOUT_MS = 240_000
#: Longest a re-make may take, in ms (it meshes a stored label map; no segmentation).
REMAKE_TIMEOUT_MS = 120_000
#: Longest the viewer may take to draw a real scan and its meshes, in ms. Chromium draws with its
#: software renderer (SwiftShader) here, on shared cores: seconds on a GPU, a minute or two here.
VIEWER_TIMEOUT_MS = 300_000
#: Environment variable naming a folder for screenshots of the results page.
SCREENSHOT_DIR_ENV = "MRIMESH_SCREENSHOT_DIR"


def wait_until_finished(page: Page, timeout_ms: int) -> None:
    """Wait for the job on screen to end, and fail with its error unless it completed."""
    expect(page.locator("#job-status")).to_have_attribute(
        "data-status", re.compile(r"^(completed|failed|cancelled|expired)$"), timeout=timeout_ms
    )
    status = page.locator("#job-status").get_attribute("data-status")
    assert status == "completed", page.locator("#job-error").text_content()


def wait_for_viewer(page: Page) -> None:
    """Wait until both panes of the result viewer are drawn."""
    for pane in ("#slices-pane", "#meshes-pane"):
        expect(page.locator(pane)).to_have_attribute(
            "data-state", re.compile(r"^(ready|failed)$"), timeout=VIEWER_TIMEOUT_MS
        )
    expect(page.locator("#viewer-status")).to_be_hidden()
    expect(page.locator("#slices-pane")).to_have_attribute("data-state", "ready")
    expect(page.locator("#meshes-pane")).to_have_attribute("data-state", "ready")


def test_a_real_scan_is_shown_toggled_remade_and_downloaded(
    page: Page, live_service: Any, brain_2mm: Path, job_storage: JobStorage,
    page_problems: PageProblems, tmp_path: Path,
) -> None:  # fmt: skip
    # given a real brain MRI uploaded through the page and processed by the real worker
    page.set_default_timeout(VIEWER_TIMEOUT_MS)  # software WebGL keeps the page busy for a while
    page.set_viewport_size({"width": 1100, "height": 900})
    page.goto(live_service.base_url)
    page.set_input_files("#file-input", str(brain_2mm))
    with page.expect_response(lambda r: r.url.endswith("/upload")) as upload_info:
        page.get_by_role("button", name="Upload and process").click()
    first_id = upload_info.value.json()["job_id"]
    wait_until_finished(page, JOB_TIMEOUT_MS)

    # then niivue shows the brain-only scan with the label map over it, in colour
    wait_for_viewer(page)
    slices = wait_for_pixels(
        page, "slices-canvas", lambda c: c["coloured"] > 3000, "no coloured label map"
    )
    assert slices["lit"] > slices["coloured"]
    expect(page.locator("#slices-legend li")).to_contain_text(["White matter"])
    # and the meshes of the job, one toggle each
    toggles = page.locator("#mesh-toggles")
    for name in ("Whole brain", "White matter", "Ventricles"):
        expect(toggles.get_by_role("checkbox", name=name)).to_be_checked()
    meshes = page.locator("#meshes-canvas")
    expect(meshes).to_have_attribute(
        "aria-label", "3D view of Whole brain, White matter and Ventricles"
    )
    shown = wait_for_pixels(page, "meshes-canvas", lambda c: c["green"] > 500, "no white matter")
    if os.environ.get(SCREENSHOT_DIR_ENV):
        folder = Path(os.environ[SCREENSHOT_DIR_ENV])
        page.screenshot(path=str(folder / "results-1100.png"), full_page=True)
        page.set_viewport_size({"width": 375, "height": 800})
        page.wait_for_timeout(1000)
        page.screenshot(path=str(folder / "results-375.png"), full_page=True)
        page.set_viewport_size({"width": 1100, "height": 900})

    # when the white matter is hidden
    toggles.get_by_role("checkbox", name="White matter").uncheck()

    # then it is no longer drawn
    expect(meshes).to_have_attribute("aria-label", "3D view of Whole brain and Ventricles")
    wait_for_pixels(
        page, "meshes-canvas", lambda c: c["green"] < shown["green"] / 10, "white matter drawn"
    )

    # when the two hemispheres are asked for, as STL and OBJ, 100 mm long, and made again
    form = page.locator("#options-form")
    for name in ("Whole brain", "White matter", "Ventricles"):
        form.get_by_role("checkbox", name=name).uncheck()
    form.get_by_role("checkbox", name="Left hemisphere").check()
    form.get_by_role("checkbox", name="Right hemisphere").check()
    for fmt in ("STL", "OBJ"):
        form.get_by_role("checkbox", name=fmt, exact=True).check()
    for fmt in ("GLB", "3MF"):
        form.get_by_role("checkbox", name=re.compile(f"^{fmt} ")).uncheck()
    form.get_by_role("radio", name="Longest side, mm").check()
    form.get_by_role("spinbutton", name="Longest side, mm").fill("100")
    with page.expect_response(lambda r: r.url.endswith("/meshes")) as remake_info:
        form.get_by_role("button", name="Make the files again").click()
    assert remake_info.value.status == 202, remake_info.value.text()

    # then a new job is followed to completion, and remembered
    second_id = remake_info.value.json()["job_id"]
    assert second_id != first_id
    expect(page.locator("#job-id")).to_have_text(second_id)
    assert job_storage.get()["job_id"] == second_id
    wait_until_finished(page, REMAKE_TIMEOUT_MS)

    # and the viewer shows the new pieces
    wait_for_viewer(page)
    expect(meshes).to_have_attribute(
        "aria-label", "3D view of Left hemisphere and Right hemisphere"
    )
    wait_for_pixels(page, "meshes-canvas", lambda c: c["lit"] > 5000, "no hemispheres drawn")

    # when the new files are downloaded
    with page.expect_download(timeout=60_000) as download_info:
        page.get_by_role("link", name="Download meshes (zip)").click()
    archive = tmp_path / "remade.zip"
    download_info.value.save_as(archive)

    # then the zip holds the two hemispheres as STL and OBJ, and nothing of the earlier pieces
    with zipfile.ZipFile(archive) as zipped:
        names = set(zipped.namelist())
        report = json.loads(zipped.read("report.json"))
    for piece in ("left_hemisphere", "right_hemisphere"):
        assert {f"{piece}.stl", f"{piece}.obj"} <= names, names
    assert not any(n.startswith(("brain.", "white_matter.", "ventricles.")) for n in names), names
    assert not any(n.endswith((".glb", ".3mf")) for n in names), names
    assert [s["name"] for s in report["structures"]] == ["left_hemisphere", "right_hemisphere"]
    longest = max(max(s["print_size_mm"]) for s in report["structures"])
    assert longest <= 100.5, report["structures"]
    page_problems.assert_none()
