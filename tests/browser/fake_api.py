"""A scripted stand-in for the mrimesh API, answering a page through Playwright routing."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.sync_api import Page, Route

#: localStorage key the page keeps its job under.
STORAGE_KEY = "mrimesh.job"
#: The one job id the fake API hands out.
JOB_ID = "3f2b8c1e-7d4a-4c55-9a1e-2b6f0c9d8e71"


def iso_ago(**delta: float) -> str:
    """An ISO 8601 UTC timestamp ``delta`` before now, e.g. ``iso_ago(hours=2)``."""
    moment = datetime.now(UTC) - timedelta(**delta)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def status_body(status: str, **fields: Any) -> dict[str, Any]:
    """A ``/status`` body with every contract field, overridable."""
    body: dict[str, Any] = {
        "job_id": JOB_ID,
        "status": status,
        "progress_percent": 0,
        "current_step": None,
        "queue_position": None,
        "eta_seconds": None,
        "created_at": iso_ago(minutes=1),
        "started_at": None,
        "finished_at": None,
        "expires_at": iso_ago(hours=-23),
        "error": None,
        "error_code": None,
        "attempt": 1,
        "max_attempts": 3,
        "download_url": None,
        "result": None,
    }
    body.update(fields)
    return body


def completed_body(**fields: Any) -> dict[str, Any]:
    """A completed job with two structures."""
    result = {
        "structures": [
            {
                "name": "Left cerebral hemisphere",
                "label": 1,
                "volume_ml": 512.34,
                "triangles": 184_220,
                "watertight": True,
                "files": ["left_hemisphere.stl"],
            },
            {
                "name": "Brainstem",
                "label": 7,
                "volume_ml": 24.0,
                "triangles": 20_480,
                "watertight": False,
                "files": ["brainstem.stl"],
            },
        ]
    }
    defaults = {
        "progress_percent": 100,
        "current_step": None,
        "started_at": iso_ago(seconds=240),
        "finished_at": iso_ago(seconds=55),
        "download_url": f"/download/{JOB_ID}",
        "result": result,
    }
    defaults.update(fields)
    return status_body("completed", **defaults)


#: An answer: HTTP status and JSON body. ``HOLD`` never answers; ``DROP`` fails the connection.
Reply = tuple[int, dict[str, Any]] | str | None
#: Never answer (freezes the poll chain where a test wants it).
HOLD = None
#: Fail the request as a network error.
DROP = "drop"


class FakeApi:
    """Answers the page's API calls from a script, and records them.

    ``statuses`` are served in order to successive ``GET status/<id>``; the last one
    repeats. A reply of :data:`HOLD` never answers, which freezes the poll chain where a
    test wants it; :data:`DROP` fails the request like a lost connection.
    """

    def __init__(self, page: Page) -> None:
        self.page = page
        self.statuses: list[Reply] = [(200, status_body("queued", queue_position=1))]
        self.upload_reply: Reply = (
            202,
            {
                "job_id": JOB_ID,
                "status": "queued",
                "queue_position": 1,
                "eta_seconds": None,
                "created_at": iso_ago(seconds=0),
                "expires_at": iso_ago(hours=-24),
                "status_url": f"/status/{JOB_ID}",
                "download_url": f"/download/{JOB_ID}",
            },
        )
        self.cancel_reply: Reply = (200, {"job_id": JOB_ID, "status": "cancelled"})
        self.stats_reply: Reply = (
            200,
            {
                "total_jobs": 150,
                "completed_jobs": 142,
                "failed_jobs": 3,
                "active_jobs": 5,
                "average_processing_time_seconds": 420,
            },
        )
        self.calls: list[str] = []
        self._held: list[Route] = []
        page.route(re.compile(r"/(upload|stats|(status|jobs|download)/[^/?]+)$"), self._handle)

    def reply_with_status(self, *replies: Reply) -> None:
        """Script the next status answers (the last repeats)."""
        self.statuses = list(replies)

    def count(self, prefix: str) -> int:
        """How many calls started with ``prefix``, e.g. ``"GET status/"``."""
        return sum(1 for call in self.calls if call.startswith(prefix))

    def _handle(self, route: Route) -> None:
        request = route.request
        path = request.url.split("/", 3)[3]
        self.calls.append(f"{request.method} {path}")
        if request.method == "POST" and path == "upload":
            self._fulfil(route, self.upload_reply)
        elif request.method == "GET" and path == "stats":
            self._fulfil(route, self.stats_reply)
        elif request.method == "GET" and path.startswith("status/"):
            self._fulfil(
                route, self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
            )
        elif request.method == "DELETE" and path.startswith("jobs/"):
            self._fulfil(route, self.cancel_reply)
        elif request.method == "GET" and path.startswith("download/"):
            route.fulfill(
                status=200,
                body=b"PK\x05\x06" + b"\x00" * 18,
                headers={
                    "Content-Type": "application/zip",
                    "Content-Disposition": f'attachment; filename="mrimesh-{JOB_ID}.zip"',
                },
            )
        else:
            self._fulfil(route, (404, {"error": "Not found.", "code": "not_found"}))

    def _fulfil(self, route: Route, reply: Reply) -> None:
        if reply is HOLD:
            self._held.append(route)
        elif reply == DROP:
            route.abort("connectionfailed")
        else:
            status, body = reply
            route.fulfill(status=status, content_type="application/json", body=json.dumps(body))
