"""Scripted API answers for page-state tests (queue position 3, retries, 410s …) that a real
service cannot be steered into on demand; the real service is tested in
test_localstorage_integration.py."""

from __future__ import annotations

import io
import json
import re
import struct
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.sync_api import Page, Route

#: localStorage key the page keeps its job under.
STORAGE_KEY = "mrimesh.job"
#: The one job id the scripted API hands out.
JOB_ID = "3f2b8c1e-7d4a-4c55-9a1e-2b6f0c9d8e71"


def iso_ago(**delta: float) -> str:
    """An ISO 8601 UTC timestamp ``delta`` before now, e.g. ``iso_ago(hours=2)``."""
    moment = datetime.now(UTC) - timedelta(**delta)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def tetrahedron_stl() -> bytes:
    """A binary STL with the 4 faces of a tetrahedron."""
    a, b, c, d = (0, 0, 0), (40, 0, 0), (0, 40, 0), (0, 0, 40)
    faces = [(a, c, b), (a, b, d), (a, d, c), (b, c, d)]
    body = b"".join(
        struct.pack("<3f", 0, 0, 0) + b"".join(struct.pack("<3f", *v) for v in face) + b"\0\0"
        for face in faces
    )
    return b"binary tetrahedron".ljust(80, b" ") + struct.pack("<I", len(faces)) + body


def cube_stl_ascii() -> str:
    """An ASCII STL cube: 12 triangles."""
    corners = [(x, y, z) for x in (0, 20) for y in (0, 20) for z in (0, 20)]
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    lines = ["solid cube"]
    for q in quads:
        for tri in ((q[0], q[1], q[2]), (q[0], q[2], q[3])):
            lines += ["facet normal 0 0 0", "outer loop"]
            lines += ["vertex {} {} {}".format(*corners[i]) for i in tri]
            lines += ["endloop", "endfacet"]
    return "\n".join([*lines, "endsolid cube", ""])


def result_zip() -> bytes:
    """A result zip as the service packs it: meshes (deflated) and a report."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("left_cerebral_hemisphere.stl", tetrahedron_stl(), zipfile.ZIP_DEFLATED)
        archive.writestr("brainstem.stl", cube_stl_ascii(), zipfile.ZIP_STORED)
        archive.writestr("report.json", json.dumps({"structures": 2}), zipfile.ZIP_DEFLATED)
    return out.getvalue()


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
        "notes": ["4D input with 2 volumes: only the first volume was used."],
        "structures": [
            {
                "name": "left_cerebral_hemisphere",
                "label": 1,
                "volume_ml": 512.34,
                "triangles": 184_220,
                "watertight": True,
                "files": {
                    "stl": "left_cerebral_hemisphere.stl",
                    "obj": "left_cerebral_hemisphere.obj",
                },
            },
            {
                "name": "Brainstem",
                "label": 7,
                "volume_ml": 24.0,
                "triangles": 20_480,
                "watertight": False,
                "files": {"stl": "brainstem.stl"},
            },
        ],
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
#: Let the request through to the static server (which takes an upload and never answers).
PASS = "pass"


class ScriptedApi:
    """Answers the page's API calls from a script, and records them.

    ``statuses`` are served in order to successive ``GET status/<id>``; the last one
    repeats. A reply of :data:`HOLD` never answers, which freezes the poll chain where a
    test wants it; :data:`DROP` fails the request like a lost connection; :data:`PASS` sends
    it on to the static server (needed for upload progress, which Chromium does not report
    for routed requests).
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
        #: Answer to ``HEAD download/<id>``; None lets it through to the static server's zip.
        self.download_check_reply: Reply = None
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
        elif path.startswith("download/"):
            if request.method == "HEAD" and self.download_check_reply is not None:
                self._fulfil(route, self.download_check_reply)
            else:
                route.fallback()
        else:
            self._fulfil(route, (404, {"error": "Not found.", "code": "not_found"}))

    def _fulfil(self, route: Route, reply: Reply) -> None:
        if reply is HOLD:
            self._held.append(route)
        elif reply == DROP:
            route.abort("connectionfailed")
        elif reply == PASS:
            route.fallback()
        else:
            status, body = reply
            route.fulfill(status=status, content_type="application/json", body=json.dumps(body))
