"""The page's pure logic of the print options (``web/js/print_options.js``) and of what the result
viewer shows (``web/js/preview.js``), run in Chromium by the real modules."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page

pytestmark = pytest.mark.browser

FORM = {
    "structures": ["brain", "ventricles"],
    "formats": ["stl", "3mf"],
    "size_by": "scale_percent",
    "hollow_mm": "2",
    "scale_percent": " 50 ",
    "longest_side_mm": "not used",
    "smoothing": "10",
    "target_triangles": "100000",
}

CASES: list[tuple[str, str, list[Any], Any]] = [
    # Only the chosen size option is sent; numbers are numbers.
    (
        "print_options.js",
        "buildRequest",
        [FORM],
        {
            "body": {
                "structures": ["brain", "ventricles"],
                "formats": ["stl", "3mf"],
                "hollow_mm": 2,
                "scale_percent": 50,
                "smoothing": 10,
                "target_triangles": 100000,
            },
            "errors": {},
        },
    ),
    (
        "print_options.js",
        "buildRequest",
        [{**FORM, "size_by": "longest_side_mm", "longest_side_mm": "", "formats": []}],
        {
            "body": None,
            "errors": {
                "formats": "Choose at least one file format.",
                "size": "The longest side must be a number.",
            },
        },
    ),
    # A refusal goes next to the option it names, by its member or by its words.
    ("print_options.js", "fieldOfError", [{"option": "hollow_mm", "message": "x"}], "hollow_mm"),
    ("print_options.js", "fieldOfError", [{"option": "longest_side_mm"}], "size"),
    (
        "print_options.js",
        "fieldOfError",
        [{"message": "target_triangles must be a whole number from 1,000 to 2,000,000."}],
        "target_triangles",
    ),
    ("print_options.js", "fieldOfError", [{"option": "file", "message": "Too many."}], None),
    # The form starts from what the report records, else from the pieces made.
    (
        "print_options.js",
        "optionsFromResult",
        [
            {"structures": [{"name": "brain"}]},
            {
                "print_options": {
                    "structures": ["left_hemisphere", "right_hemisphere"],
                    "formats": ["3mf"],
                    "hollow_mm": 2.5,
                    "scale_percent": None,
                    "longest_side_mm": 120,
                    "smoothing": 20,
                    "target_triangles": 50000,
                }
            },
        ],
        {
            "structures": ["left_hemisphere", "right_hemisphere"],
            "formats": ["3mf"],
            "hollow_mm": 2.5,
            "size_by": "longest_side_mm",
            "scale_percent": 100,
            "longest_side_mm": 120,
            "smoothing": 20,
            "target_triangles": 50000,
        },
    ),
    (
        "print_options.js",
        "optionsFromResult",
        [{"structures": [{"name": "white_matter"}, {"name": "unknown_piece"}]}],
        {
            "structures": ["white_matter"],
            "formats": ["stl", "glb", "3mf"],
            "hollow_mm": 0,
            "size_by": "scale_percent",
            "scale_percent": 100,
            "longest_side_mm": 120,
            "smoothing": 10,
            "target_triangles": 200000,
        },
    ),
    # Cerebellum and brainstem are offered only where the job shows they can be made.
    (
        "print_options.js",
        "structureChoices",
        [{"structures": [{"name": "brain"}]}],
        [
            {"value": "brain", "label": "Whole brain"},
            {"value": "left_hemisphere", "label": "Left hemisphere"},
            {"value": "right_hemisphere", "label": "Right hemisphere"},
            {"value": "white_matter", "label": "White matter"},
            {"value": "ventricles", "label": "Ventricles"},
        ],
    ),
    # Each structure is shown from its STL (niivue reads no GLB; the service keeps no PLY under
    # files/), the outer one see-through; one listed without an STL has none to show.
    (
        "preview.js",
        "meshChoices",
        [
            [
                {"name": "brain", "files": {"glb": "brain.glb", "stl": "brain.stl"}},
                {"name": "ventricles", "display_name": "The ventricles", "files": {"ply": "v.ply"}},
                {"name": "white_matter"},
            ]
        ],
        [
            {
                "key": "brain",
                "label": "Brain",
                "file": "brain.stl",
                "rgb": [232, 170, 150],
                "opacity": 0.4,
            },
            {
                "key": "ventricles",
                "label": "The ventricles",
                "file": None,
                "rgb": [0, 114, 178],
                "opacity": 1,
            },
            {
                "key": "white_matter",
                "label": "White matter",
                "file": "white_matter.stl",
                "rgb": [0, 158, 115],
                "opacity": 1,
            },
        ],
    ),
    (
        "preview.js",
        "labelColours",
        [{"labels": {"0": "background", "1": "csf", "3": "white_matter", "9": "tumour_core"}}],
        [
            {"label": 1, "name": "Cerebrospinal fluid", "rgb": [86, 180, 233]},
            {"label": 3, "name": "White matter", "rgb": [0, 158, 115]},
            {"label": 9, "name": "Tumour core", "rgb": [213, 94, 0]},
        ],
    ),
    (
        "preview.js",
        "labelColours",
        [None],
        [
            {"label": 1, "name": "Cerebrospinal fluid", "rgb": [86, 180, 233]},
            {"label": 2, "name": "Grey matter", "rgb": [230, 159, 0]},
            {"label": 3, "name": "White matter", "rgb": [0, 158, 115]},
            {"label": 4, "name": "Ventricles", "rgb": [0, 114, 178]},
        ],
    ),
]


@pytest.fixture(scope="module")
def results(browser: Any, static_site: str) -> list[Any]:
    """Every case evaluated by the real modules in one page load."""
    page: Page = browser.new_page()
    try:
        page.goto(static_site + "js/print_options.js")
        return page.evaluate(
            """async (cases) => {
                const out = [];
                for (const [module, name, args] of cases) {
                    const loaded = await import('./' + module);
                    out.push(loaded[name](...args));
                }
                return out;
            }""",
            [[module, name, args] for module, name, args, _ in CASES],
        )
    finally:
        page.close()


@pytest.mark.parametrize(
    ("index", "expected"),
    [
        pytest.param(index, expected, id=f"{name}-{index}")
        for index, (_, name, _, expected) in enumerate(CASES)
    ],
)
def test_logic(results: list[Any], index: int, expected: Any) -> None:
    assert results[index] == expected
