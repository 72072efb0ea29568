"""The results page against a scripted API: niivue's slices with the label map, the meshes with
their show/hide toggles, and the print options with their re-make.

The scripted API serves a synthetic scan and label map (nested ellipsoids) and two STL meshes
as ``jobs/<id>/files/<name>``; the real service is in ``test_results_page_integration.py``.
What niivue draws is checked by reading the canvas's pixels: the scan alone is grey, so
coloured pixels on the slices are the label map; the ventricles' mesh is the only blue one.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import JobStorage, PageProblems
from tests.browser.scripted_api import (
    JOB_ID,
    REMAKE_JOB_ID,
    ScriptedApi,
    completed_body,
    iso_ago,
    status_body,
)

pytestmark = pytest.mark.browser

#: Counts of an image's pixels: all lit, coloured (not grey), blue and green ones. Runs in the page
#: on a screenshot of the canvas (a WebGL canvas cannot be read back once presented).
PIXELS = """async (png) => {
    const image = new Image();
    image.src = 'data:image/png;base64,' + png;
    await image.decode();
    const copy = document.createElement('canvas');
    copy.width = image.width;
    copy.height = image.height;
    const context = copy.getContext('2d');
    context.drawImage(image, 0, 0);
    const { data } = context.getImageData(0, 0, copy.width, copy.height);
    let lit = 0, coloured = 0, blue = 0, green = 0;
    for (let i = 0; i < data.length; i += 4) {
        const [r, g, b] = [data[i], data[i + 1], data[i + 2]];
        if (r + g + b > 60) lit += 1;
        if (Math.max(r, g, b) - Math.min(r, g, b) > 50) coloured += 1;
        if (b > r + 60 && b > g + 20) blue += 1;
        if (g > r + 40 && g > b + 10) green += 1;
    }
    return { lit, coloured, blue, green };
}"""


def pixels(page: Page, canvas_id: str) -> dict[str, int]:
    """Pixel counts of what a canvas shows (see :data:`PIXELS`)."""
    png = page.locator(f"#{canvas_id}").screenshot(animations="disabled")
    return page.evaluate(PIXELS, base64.b64encode(png).decode())


def wait_for_pixels(
    page: Page, canvas_id: str, check: Callable[[dict[str, int]], bool], what: str
) -> dict[str, int]:
    """Wait until the canvas's pixel counts pass ``check``; niivue draws asynchronously."""
    counts: dict[str, int] = {}
    for _ in range(60):
        counts = pixels(page, canvas_id)
        if check(counts):
            return counts
        page.wait_for_timeout(250)
    raise AssertionError(f"{what}: {counts}")


def open_completed_job(page: Page, job_storage: JobStorage, site: str) -> None:
    """Open the page on the scripted completed job and wait until both viewers are drawn."""
    page.goto(site)
    job_storage.put(JOB_ID, iso_ago(minutes=5))
    page.reload()
    page.get_by_role("button", name="Check Status").click()
    expect(page.get_by_role("heading", name="Your meshes are ready")).to_be_visible()
    expect(page.locator("#slices-pane")).to_have_attribute("data-state", "ready", timeout=30_000)
    expect(page.locator("#meshes-pane")).to_have_attribute("data-state", "ready", timeout=30_000)


# ---- Slices with the label map -----------------------------------------------------------------


def test_the_slices_show_the_scan_with_the_label_map_in_colour(
    page: Page, scripted_api: ScriptedApi, static_site: str, job_storage: JobStorage,
    page_problems: PageProblems,
) -> None:  # fmt: skip
    # given a completed job
    scripted_api.reply_with_status((200, completed_body()))

    # when its page is opened
    open_completed_job(page, job_storage, static_site)

    # then the brain-only scan and the label map were fetched as files of the job
    for name in ("brain.nii.gz", "labels.nii.gz", "report.json"):
        assert scripted_api.count(f"GET jobs/{JOB_ID}/files/{name}") == 1, name
    # and the slices are drawn with the labels in colour, each colour named in the legend
    drawn = wait_for_pixels(
        page, "slices-canvas", lambda c: c["coloured"] > 2000, "no coloured label map"
    )
    assert drawn["lit"] > drawn["coloured"]
    expect(page.locator("#slices-legend li")).to_have_text(
        ["Cerebrospinal fluid", "Grey matter", "White matter", "Ventricles"]
    )
    expect(page.locator("#slices-canvas")).to_have_attribute(
        "aria-label", re.compile(r"segmentation over them: Cerebrospinal fluid, .* and Ventricles$")
    )
    expect(page.locator("#viewer-status")).to_be_hidden()

    # when the segmentation's opacity is turned down to nothing with the keyboard
    page.get_by_label("Segmentation opacity").focus()
    page.keyboard.press("Home")

    # then the scan shows alone, grey
    wait_for_pixels(
        page, "slices-canvas", lambda c: c["coloured"] < 50 and c["lit"] > 2000, "overlay still on"
    )
    page_problems.assert_none()


def test_the_slices_move_and_change_view_from_the_keyboard(
    page: Page, scripted_api: ScriptedApi, static_site: str, job_storage: JobStorage
) -> None:
    # given a completed job's slices, all three planes through the middle
    scripted_api.reply_with_status((200, completed_body()))
    open_completed_job(page, job_storage, static_site)
    before = wait_for_pixels(page, "slices-canvas", lambda c: c["lit"] > 2000, "no slices")

    # when one plane is chosen and its slice moved to the top of the head with the keyboard
    page.get_by_label("View", exact=True).select_option("axial")
    page.get_by_label("Axial slice (bottom to top)").focus()
    page.keyboard.press("End")

    # then the slider says so and the slice drawn is the small cap of the head
    expect(page.get_by_label("Axial slice (bottom to top)")).to_have_value("100")
    wait_for_pixels(
        page, "slices-canvas", lambda c: c["lit"] < before["lit"] / 2, "slice did not move"
    )


# ---- Meshes --------------------------------------------------------------------------------------


def test_each_mesh_can_be_hidden_and_shown_again(
    page: Page, scripted_api: ScriptedApi, static_site: str, job_storage: JobStorage,
    page_problems: PageProblems,
) -> None:  # fmt: skip
    # given a completed job with a left hemisphere and the ventricles (drawn blue)
    scripted_api.reply_with_status((200, completed_body()))
    open_completed_job(page, job_storage, static_site)

    # then each structure's STL (not its GLB, which niivue cannot read) was fetched and drawn
    assert scripted_api.count(f"GET jobs/{JOB_ID}/files/left_hemisphere.stl") == 1
    assert scripted_api.count(f"GET jobs/{JOB_ID}/files/left_hemisphere.glb") == 0
    assert scripted_api.count(f"GET jobs/{JOB_ID}/files/ventricles.stl") == 1
    canvas = page.locator("#meshes-canvas")
    expect(canvas).to_have_attribute("aria-label", "3D view of Left hemisphere and Ventricles")
    shown = wait_for_pixels(page, "meshes-canvas", lambda c: c["blue"] > 500, "no blue mesh")

    # when the ventricles are hidden with the keyboard
    ventricles = page.locator("#mesh-toggles").get_by_role("checkbox", name="Ventricles")
    ventricles.focus()
    page.keyboard.press("Space")

    # then they are no longer drawn, and the text alternative says what is left
    expect(ventricles).not_to_be_checked()
    expect(canvas).to_have_attribute("aria-label", "3D view of Left hemisphere")
    wait_for_pixels(page, "meshes-canvas", lambda c: c["blue"] < shown["blue"] / 20, "still blue")

    # when they are shown again
    page.keyboard.press("Space")

    # then they are back
    wait_for_pixels(page, "meshes-canvas", lambda c: c["blue"] > 500, "ventricles not back")
    expect(canvas).to_have_attribute("aria-label", "3D view of Left hemisphere and Ventricles")
    page_problems.assert_none()


def test_the_meshes_turn_from_the_keyboard(
    page: Page, scripted_api: ScriptedApi, static_site: str, job_storage: JobStorage
) -> None:
    # given the meshes of a completed job
    scripted_api.reply_with_status((200, completed_body()))
    open_completed_job(page, job_storage, static_site)
    before = wait_for_pixels(page, "meshes-canvas", lambda c: c["blue"] > 500, "no mesh")

    # when the view is turned and tilted with the arrow keys
    page.get_by_label("Turn around").focus()
    for _ in range(9):
        page.keyboard.press("ArrowRight")
    page.get_by_label("Tilt").focus()
    for _ in range(6):
        page.keyboard.press("ArrowUp")

    # then the meshes are drawn from another side
    expect(page.get_by_label("Turn around")).to_have_value("155")
    wait_for_pixels(
        page, "meshes-canvas", lambda c: abs(c["blue"] - before["blue"]) > 200, "view unchanged"
    )


# ---- Files that cannot be shown ------------------------------------------------------------------


def test_a_scan_that_cannot_be_fetched_leaves_the_meshes(
    page: Page, scripted_api: ScriptedApi, static_site: str, job_storage: JobStorage
) -> None:
    # given a completed job whose brain-only scan the server cannot find
    scripted_api.reply_with_status((200, completed_body()))
    scripted_api.file_replies["brain.nii.gz"] = (
        404,
        {"error": "No such file.", "code": "not_found"},
    )

    # when its page is opened
    page.goto(static_site)
    job_storage.put(JOB_ID, iso_ago(minutes=5))
    page.reload()
    page.get_by_role("button", name="Check Status").click()

    # then the slices say why they are missing, and the meshes are drawn all the same
    expect(page.locator("#slices-pane")).to_have_attribute("data-state", "failed")
    expect(page.locator("#meshes-pane")).to_have_attribute("data-state", "ready", timeout=30_000)
    expect(page.locator("#viewer-status")).to_have_text(
        "The slices could not be shown: No such file. You can still download the meshes."
    )
    expect(page.get_by_label("Segmentation opacity")).to_be_disabled()
    expect(page.get_by_role("link", name="Download meshes (zip)")).to_be_visible()


def test_pieces_made_without_stl_are_explained_and_the_slices_still_shown(
    page: Page, scripted_api: ScriptedApi, static_site: str, job_storage: JobStorage
) -> None:
    # given a completed job whose pieces were made as GLB only (niivue reads no GLB)
    body = completed_body()
    for structure in body["result"]["structures"]:
        structure["files"] = {"glb": f"{structure['name']}.glb"}
    scripted_api.reply_with_status((200, body))

    # when its page is opened
    page.goto(static_site)
    job_storage.put(JOB_ID, iso_ago(minutes=5))
    page.reload()
    page.get_by_role("button", name="Check Status").click()

    # then the slices are drawn, and the 3D view says how to get meshes it can show
    expect(page.locator("#slices-pane")).to_have_attribute("data-state", "ready", timeout=30_000)
    expect(page.locator("#meshes-pane")).to_have_attribute("data-state", "failed")
    expect(page.locator("#viewer-status")).to_contain_text(
        "Tick STL under File formats and make the files again"
    )
    assert scripted_api.count(f"GET jobs/{JOB_ID}/files/left_hemisphere.glb") == 0


def test_a_browser_without_webgl_is_told_and_can_still_download(
    page: Page, scripted_api: ScriptedApi, static_site: str, job_storage: JobStorage
) -> None:
    # given a browser without WebGL 2
    page.add_init_script(
        "const original = HTMLCanvasElement.prototype.getContext;"
        "HTMLCanvasElement.prototype.getContext = function (type, ...rest) {"
        "  return type === 'webgl2' ? null : original.call(this, type, ...rest); };"
    )
    scripted_api.reply_with_status((200, completed_body()))

    # when a completed job is opened
    page.goto(static_site)
    job_storage.put(JOB_ID, iso_ago(minutes=5))
    page.reload()
    page.get_by_role("button", name="Check Status").click()

    # then the page says so, and the download and the print options still work
    expect(page.locator("#viewer-status")).to_contain_text("could not be shown")
    expect(page.locator("#viewer-status")).to_contain_text("WebGL 2")
    expect(page.get_by_role("link", name="Download meshes (zip)")).to_be_visible()
    expect(page.get_by_role("button", name="Make the files again")).to_be_enabled()


# ---- Print options and re-make -------------------------------------------------------------------


def test_changed_options_remake_the_files_and_the_new_job_is_followed(
    page: Page, scripted_api: ScriptedApi, static_site: str, job_storage: JobStorage,
    page_problems: PageProblems,
) -> None:  # fmt: skip
    # given a completed job, whose pieces the form starts from
    scripted_api.reply_with_status((200, completed_body()))
    open_completed_job(page, job_storage, static_site)
    form = page.locator("#options-form")
    expect(form.get_by_role("checkbox", name="Left hemisphere")).to_be_checked()
    expect(form.get_by_role("checkbox", name="Whole brain")).not_to_be_checked()
    # and the options its report.json records
    expect(form.get_by_role("radio", name="Longest side, mm")).to_be_checked()
    expect(form.get_by_role("spinbutton", name="Longest side, mm")).to_have_value("150")
    expect(form.get_by_role("checkbox", name="3MF", exact=False)).not_to_be_checked()

    # when other pieces, formats, a hollow wall and a print size are chosen, and Make is pressed
    scripted_api.reply_with_status(
        (200, status_body("processing", job_id=REMAKE_JOB_ID, progress_percent=40,
                          current_step="Generating meshes")),
    )  # fmt: skip
    form.get_by_role("checkbox", name="Right hemisphere").check()
    form.get_by_role("checkbox", name="Ventricles").uncheck()
    form.get_by_role("checkbox", name="GLB (coloured, for viewers)").uncheck()
    form.get_by_role("checkbox", name="OBJ").check()
    page.get_by_label("Wall thickness, mm").fill("2.5")
    page.get_by_role("radio", name="Longest side, mm").check()
    page.get_by_role("spinbutton", name="Longest side, mm").fill("90")
    page.get_by_label("Smoothing").fill("4")
    page.get_by_label("Triangles per piece, at most").fill("50000")
    page.get_by_role("button", name="Make the files again").click()

    # then the re-make asks for exactly those options, by their API names
    expect(page.locator("#job-id")).to_have_text(REMAKE_JOB_ID)
    assert scripted_api.remake_requests == [
        {
            "structures": ["left_hemisphere", "right_hemisphere"],
            "formats": ["stl", "obj"],
            "hollow_mm": 2.5,
            "longest_side_mm": 90,
            "smoothing": 4,
            "target_triangles": 50000,
        }
    ]
    # and the new job is remembered and followed with the usual progress bar
    assert job_storage.get()["job_id"] == REMAKE_JOB_ID
    progress = page.get_by_role("progressbar", name="Processing progress")
    expect(progress).to_have_attribute("aria-valuenow", "40")
    expect(page.locator("#job-step")).to_have_text("Generating meshes")

    # when it completes
    scripted_api.reply_with_status((200, completed_body(job_id=REMAKE_JOB_ID)))

    # then, the viewer shows the new job's files
    expect(page.get_by_role("heading", name="Your meshes are ready")).to_be_visible()
    expect(page.locator("#meshes-pane")).to_have_attribute("data-state", "ready", timeout=30_000)
    assert scripted_api.count(f"GET jobs/{REMAKE_JOB_ID}/files/ventricles.stl") == 1
    expect(page.get_by_role("link", name="Download meshes (zip)")).to_have_attribute(
        "href", f"download/{REMAKE_JOB_ID}"
    )
    page_problems.assert_none()


def test_an_option_the_server_refuses_is_shown_next_to_it(
    page: Page, scripted_api: ScriptedApi, static_site: str, job_storage: JobStorage
) -> None:
    # given a completed job, and a server that finds the wall too thick
    scripted_api.reply_with_status((200, completed_body()))
    # (the API's own words and body: the option is named in the message)
    message = "hollow_mm must be 0 (solid) or a wall of 0.8 to 20 mm; got 40."
    scripted_api.remake_reply = (422, {"error": message, "code": "invalid_option"})
    open_completed_job(page, job_storage, static_site)

    # when a thick wall is asked for
    page.get_by_label("Wall thickness, mm").fill("40")
    page.get_by_role("button", name="Make the files again").click()

    # then the server's reason shows under the field, which is marked and focused
    wall = page.get_by_label("Wall thickness, mm")
    expect(page.locator("#option-hollow_mm-error")).to_have_text(message)
    expect(wall).to_have_attribute("aria-invalid", "true")
    expect(wall).to_be_focused()
    # and the job on screen stays the completed one
    expect(page.locator("#job-id")).to_have_text(JOB_ID)
    expect(page.get_by_role("button", name="Make the files again")).to_be_enabled()

    # when the wall is corrected and the files made again
    scripted_api.remake_reply = (202, {"job_id": REMAKE_JOB_ID, "status": "queued"})
    scripted_api.reply_with_status((200, status_body("queued", job_id=REMAKE_JOB_ID)))
    wall.fill("2")
    page.get_by_role("button", name="Make the files again").click()

    # then the new job is followed
    expect(page.locator("#job-id")).to_have_text(REMAKE_JOB_ID)


def test_a_refusal_about_no_single_option_is_shown_above_the_button(
    page: Page, scripted_api: ScriptedApi, static_site: str, job_storage: JobStorage
) -> None:
    # given a completed job the server will not re-make (too many requests)
    scripted_api.reply_with_status((200, completed_body()))
    scripted_api.remake_reply = (
        429,
        {"error": "Too many re-makes; try again in a minute.", "code": "rate_limited"},
    )
    open_completed_job(page, job_storage, static_site)

    # when Make is pressed
    page.get_by_role("button", name="Make the files again").click()

    # then the server's words show as an alert by the button
    expect(page.locator("#options-error")).to_have_text(
        "Could not make the files again: Too many re-makes; try again in a minute."
    )
    expect(page.locator("#job-id")).to_have_text(JOB_ID)


def test_options_that_cannot_be_sent_are_refused_before_asking(
    page: Page, scripted_api: ScriptedApi, static_site: str, job_storage: JobStorage
) -> None:
    # given a completed job
    scripted_api.reply_with_status((200, completed_body()))
    open_completed_job(page, job_storage, static_site)

    # when every piece is unticked and the triangle count emptied
    for box in page.locator("#option-structures input").all():
        box.uncheck()
    page.get_by_label("Triangles per piece, at most").fill("")
    page.get_by_role("button", name="Make the files again").click()

    # then both problems show by their fields, and nothing was asked of the server
    expect(page.locator("#option-structures-error")).to_have_text("Choose at least one piece.")
    expect(page.locator("#option-target_triangles-error")).to_have_text(
        "The number of triangles must be a number."
    )
    expect(
        page.locator("#options-form").get_by_role("checkbox", name="Whole brain")
    ).to_be_focused()
    assert scripted_api.remake_requests == []


def test_the_results_page_fits_a_phone_screen(
    page: Page, scripted_api: ScriptedApi, static_site: str, job_storage: JobStorage,
    has_horizontal_scroll: Callable[[], bool],
) -> None:  # fmt: skip
    # given a phone-sized window
    page.set_viewport_size({"width": 375, "height": 740})
    scripted_api.reply_with_status((200, completed_body()))

    # when a completed job's viewer and options are shown
    open_completed_job(page, job_storage, static_site)

    # then nothing scrolls sideways, and both viewers and the button fit the width
    assert not has_horizontal_scroll()
    for selector in ("#slices-canvas", "#meshes-canvas", "#options-submit"):
        box = page.locator(selector).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375, selector
        assert box["width"] > 250, selector
