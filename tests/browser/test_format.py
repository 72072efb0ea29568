"""The page's wording of numbers, durations and ages (``web/js/format.js``), run in Chromium."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page

pytestmark = pytest.mark.browser

CASES: list[tuple[str, list[Any], str | None]] = [
    ("formatRemaining", [None], None),
    ("formatRemaining", [0], "less than a minute"),
    ("formatRemaining", [59], "less than a minute"),
    ("formatRemaining", [60], "about 1 minute"),
    ("formatRemaining", [170], "about 3 minutes"),
    ("formatRemaining", [45 * 60], "about 45 minutes"),
    ("formatRemaining", [55 * 60], "about 1 hour"),
    ("formatRemaining", [2.4 * 3600], "about 2 hours"),
    ("formatAge", [5], "just now"),
    ("formatAge", [-30], "just now"),
    ("formatAge", [60], "1 minute ago"),
    ("formatAge", [59 * 60], "59 minutes ago"),
    ("formatAge", [3600], "1 hour ago"),
    ("formatAge", [2 * 3600 + 300], "2 hours ago"),
    ("formatAge", [30 * 3600], "1 day ago"),
    ("formatElapsed", [42], "42 seconds"),
    ("formatElapsed", [185], "3 min 5 s"),
    ("formatElapsed", [4320], "1 h 12 min"),
    ("ordinal", [1], "1st"),
    ("ordinal", [2], "2nd"),
    ("ordinal", [3], "3rd"),
    ("ordinal", [4], "4th"),
    ("ordinal", [11], "11th"),
    ("ordinal", [12], "12th"),
    ("ordinal", [13], "13th"),
    ("ordinal", [21], "21st"),
    ("ordinal", [102], "102nd"),
    ("formatQueuePosition", [1], "You are next in line"),
    ("formatQueuePosition", [3], "You are 3rd in line"),
    ("formatBytes", [812], "812 bytes"),
    ("formatBytes", [4.2 * 1024**2], "4.2 MB"),
    ("formatBytes", [1024**3], "1.0 GB"),
    ("formatVolume", [512.34], "512.3 mL"),
    ("formatVolume", [None], "–"),
    ("formatCount", [184220], "184,220"),
]


@pytest.fixture(scope="module")
def results(browser: Any, static_site: str) -> list[Any]:
    """Every case evaluated by the real module in one page load."""
    page: Page = browser.new_page()
    try:
        page.goto(static_site + "js/format.js")
        return page.evaluate(
            """async (cases) => {
                const format = await import('./format.js');
                return cases.map(([name, args]) => format[name](...args));
            }""",
            [[name, args] for name, args, _ in CASES],
        )
    finally:
        page.close()


@pytest.mark.parametrize(
    ("index", "expected"),
    [
        pytest.param(index, expected, id=f"{name}({', '.join(map(repr, args))})")
        for index, (name, args, expected) in enumerate(CASES)
    ],
)
def test_wording(results: list[Any], index: int, expected: str | None) -> None:
    assert results[index] == expected
