"""Fixtures for browser tests: a headless Chromium, a static copy of the page, a scripted API.

Two kinds of browser test live here:

* ``test_localstorage_integration.py`` drives the page against the real service
  (``live_service`` from ``tests/conftest.py``: Redis, gunicorn and a Dramatiq worker).
* ``test_page_*.py`` serve ``web/`` from a tiny static server that sends the production
  Content-Security-Policy, and answer the API from a :class:`ScriptedApi` through Playwright
  routing. They cover states a real job rarely shows on cue: a queue position, a retry, a
  lost connection, an ETA counting down.

Chromium is Debian's (``apt-get install chromium``); Playwright's own download is not used.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.browser.scripted_api import STORAGE_KEY, ScriptedApi, result_zip

#: Where Debian's chromium package puts the browser.
CHROMIUM_PATH = Path("/usr/bin/chromium")
#: Flags for a quiet, sandbox-free headless run inside a container.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
#: The page under test.
WEB_DIR = Path(__file__).resolve().parents[2] / "web"
#: Same policy the API sends, so a CSP violation fails the static-page tests too.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
#: Desktop viewport used unless a test sets its own.
DESKTOP_VIEWPORT = {"width": 1280, "height": 900}

expect.set_options(timeout=10_000)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the whole session."""
    if not CHROMIUM_PATH.exists():
        pytest.skip(
            f"browser tests need Chromium at {CHROMIUM_PATH} (apt-get install chromium); "
            "Playwright's bundled browser is not used"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM_PATH), args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh profile (empty localStorage) per test."""
    context = browser.new_context(viewport=DESKTOP_VIEWPORT, accept_downloads=True)
    yield context
    context.close()


@dataclass
class PageProblems:
    """Console errors and uncaught exceptions a page produced."""

    messages: list[str] = field(default_factory=list)

    def assert_none(self) -> None:
        """Fail with every recorded problem.

        Chromium logs each non-2xx response as "Failed to load resource"; an API error the
        page handles is not a page problem, so those lines are left out.
        """
        problems = [m for m in self.messages if "Failed to load resource" not in m]
        assert problems == [], "page reported errors:\n" + "\n".join(problems)


@pytest.fixture
def page_problems() -> PageProblems:
    """Collector the ``page`` fixture fills."""
    return PageProblems()


@pytest.fixture
def page(context: BrowserContext, page_problems: PageProblems) -> Page:
    """A tab whose console errors (CSP violations included) are recorded."""
    page = context.new_page()

    def on_console(message: Any) -> None:
        if message.type == "error":
            page_problems.messages.append(f"console: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: page_problems.messages.append(f"uncaught: {error}"))
    return page


# ---- Static page + scripted API ------------------------------------------------------------------


#: What the stand-in ``/download/<id>`` serves: two small meshes and a report.
RESULT_ZIP = result_zip()


class _StaticHandler(SimpleHTTPRequestHandler):
    """Serves ``web/`` with the production security headers, and stands in for two API calls.

    It also answers ``GET /download/<id>`` with a small result zip: Chromium fetches downloads
    outside Playwright's request routing, so the scripted API cannot answer that one. It ignores
    ``Range`` (answers 200 with the whole file), which the page's zip reader must cope with.
    """

    def do_GET(self) -> None:
        """Serve a file, or the stand-in download."""
        if self.path.startswith("/download/"):
            self._send_zip_headers()
            self.wfile.write(RESULT_ZIP)
            return
        super().do_GET()

    def do_HEAD(self) -> None:
        """Headers of a file, or of the stand-in download."""
        if self.path.startswith("/download/"):
            self._send_zip_headers()
            return
        super().do_HEAD()

    def do_POST(self) -> None:
        """Take an upload in full, then never answer: the page stays "checking the file"."""
        if self.path != "/upload":
            self.send_error(404)
            return
        remaining = int(self.headers.get("Content-Length", "0"))
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 65536))
            if not chunk:
                return
            remaining -= len(chunk)
        self.connection.settimeout(30)
        with contextlib.suppress(OSError):
            self.connection.recv(1)  # returns when the page aborts or closes
        self.close_connection = True

    def _send_zip_headers(self) -> None:
        job_id = self.path.removeprefix("/download/")
        self.send_response(200)
        self.send_header("Content-Type", "application/zip")
        self.send_header("Content-Disposition", f'attachment; filename="mrimesh-{job_id}.zip"')
        self.send_header("Content-Length", str(len(RESULT_ZIP)))
        self.end_headers()

    def end_headers(self) -> None:
        self.send_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet; pytest shows failures, not access logs."""


@pytest.fixture(scope="session")
def static_site() -> Iterator[str]:
    """Base URL of ``web/`` served with the production CSP (no API behind it)."""
    handler = partial(_StaticHandler, directory=str(WEB_DIR))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def scripted_api(page: Page) -> ScriptedApi:
    """A scripted API behind ``page``; set its replies before loading the page."""
    return ScriptedApi(page)


class JobStorage:
    """The page's ``mrimesh.job`` localStorage entry (the page must be on the origin)."""

    def __init__(self, page: Page) -> None:
        self.page = page

    def get(self) -> Any:
        """The entry, parsed, or None."""
        raw = self.page.evaluate("key => window.localStorage.getItem(key)", STORAGE_KEY)
        return None if raw is None else json.loads(raw)

    def put(self, job_id: str, created_at: str) -> None:
        """Store an entry as the page would have."""
        self.page.evaluate(
            "([key, value]) => window.localStorage.setItem(key, value)",
            [STORAGE_KEY, json.dumps({"job_id": job_id, "created_at": created_at})],
        )


@pytest.fixture
def job_storage(page: Page) -> JobStorage:
    """Read and write the page's remembered job."""
    return JobStorage(page)


@pytest.fixture
def has_horizontal_scroll(page: Page) -> Callable[[], bool]:
    """Whether the page is wider than its viewport."""

    def check() -> bool:
        return bool(
            page.evaluate(
                "() => document.documentElement.scrollWidth > document.documentElement.clientWidth"
            )
        )

    return check
