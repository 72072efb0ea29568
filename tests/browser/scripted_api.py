"""Scripted API answers for page-state tests (queue position 3, retries, 410s …) that a real
service cannot be steered into on demand; the real service is tested in
test_localstorage_integration.py."""

from __future__ import annotations

import gzip
import io
import json
import re
import struct
import zipfile
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import nibabel as nib
import numpy as np
from playwright.sync_api import Page, Route

#: localStorage key the page keeps its job under.
STORAGE_KEY = "mrimesh.job"
#: The one job id the scripted API hands out.
JOB_ID = "3f2b8c1e-7d4a-4c55-9a1e-2b6f0c9d8e71"
#: The job a re-make of :data:`JOB_ID` creates.
REMAKE_JOB_ID = "9a0d5e77-1c3b-4f8e-b2a6-5d4c3b2a1f00"
#: Label values of the synthetic label map, as the pipeline numbers them.
LABELS = {1: "csf", 2: "grey_matter", 3: "white_matter", 4: "ventricles"}


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


def synthetic_volumes() -> tuple[bytes, bytes]:
    """A gzipped NIfTI "brain" (nested ellipsoids, 2 mm voxels) and its label map.

    Labels as the pipeline numbers them: a CSF rim (1), grey matter (2), white matter (3) and
    ventricles (4) in the middle; the scan's intensity differs per tissue, as a T1's does.
    """
    shape = (48, 56, 48)
    grid = np.indices(shape, dtype=np.float32)
    centre = (np.array(shape, dtype=np.float32) - 1) / 2
    radii = np.array([20, 25, 19], dtype=np.float32)
    r = np.sqrt(sum(((grid[i] - centre[i]) / radii[i]) ** 2 for i in range(3)))
    labels = np.zeros(shape, np.uint8)
    labels[r < 1.0] = 1
    labels[r < 0.92] = 2
    labels[r < 0.7] = 3
    labels[r < 0.22] = 4
    intensity = np.array([0, 40, 90, 140, 30], dtype=np.float32)[labels]
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[:3, 3] = -centre * 2
    scan = nib.Nifti1Image(intensity, affine)
    label_map = nib.Nifti1Image(labels, affine)
    return gzip.compress(scan.to_bytes(), mtime=0), gzip.compress(label_map.to_bytes(), mtime=0)


@cache
def result_files() -> dict[str, bytes]:
    """The files a completed job keeps under ``files/`` (served by ``jobs/<id>/files/<name>``)."""
    brain, labels = synthetic_volumes()
    report = {
        "labels": {str(k): v for k, v in LABELS.items()},
        "print_options": {
            "structures": ["left_hemisphere", "ventricles"],
            "formats": ["stl", "glb"],
            "hollow_mm": 0.0,
            "scale_percent": None,
            "longest_side_mm": 150.0,
            "smoothing": 10,
            "target_triangles": 200000,
        },
    }
    return {
        "brain.nii.gz": brain,
        "labels.nii.gz": labels,
        "left_hemisphere.stl": tetrahedron_stl(),
        "ventricles.stl": cube_stl_ascii().encode(),
        "left_hemisphere.glb": b"glTF",
        "report.json": json.dumps(report).encode(),
    }


def result_zip() -> bytes:
    """A result zip as the service packs it: meshes (deflated) and a report."""
    out = io.BytesIO()
    files = result_files()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("left_hemisphere.stl", files["left_hemisphere.stl"], zipfile.ZIP_DEFLATED)
        archive.writestr("ventricles.stl", files["ventricles.stl"], zipfile.ZIP_STORED)
        archive.writestr("report.json", files["report.json"], zipfile.ZIP_DEFLATED)
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
                "name": "left_hemisphere",
                "label": None,
                "volume_ml": 512.34,
                "triangles": 184_220,
                "watertight": True,
                "files": {"glb": "left_hemisphere.glb", "stl": "left_hemisphere.stl"},
            },
            {
                "name": "ventricles",
                "label": 4,
                "volume_ml": 24.0,
                "triangles": 20_480,
                "watertight": False,
                "files": {"stl": "ventricles.stl"},
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
        #: Answer to ``POST jobs/<id>/meshes``: a new job, as the API answers a re-make.
        self.remake_reply: Reply = (
            202,
            {
                "job_id": REMAKE_JOB_ID,
                "status": "queued",
                "queue_position": 1,
                "eta_seconds": 5,
                "created_at": iso_ago(seconds=0),
                "expires_at": iso_ago(hours=-24),
                "status_url": f"/status/{REMAKE_JOB_ID}",
                "download_url": f"/download/{REMAKE_JOB_ID}",
            },
        )
        #: JSON bodies of the re-makes asked for.
        self.remake_requests: list[Any] = []
        #: Answers to ``GET jobs/<id>/files/<name>`` that differ from the files themselves.
        self.file_replies: dict[str, Reply] = {}
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
        #: Bodies of the uploads answered here (multipart, as the browser sent them).
        self.upload_bodies: list[bytes] = []
        self._held: list[Route] = []
        page.route(
            re.compile(
                r"/(upload|stats|(status|jobs|download)/[^/?]+|jobs/[^/?]+/(meshes|files/[^/?]+))$"
            ),
            self._handle,
        )

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
            if self.upload_reply != PASS:
                self.upload_bodies.append(request.post_data_buffer or b"")
            self._fulfil(route, self.upload_reply)
        elif request.method == "GET" and path == "stats":
            self._fulfil(route, self.stats_reply)
        elif request.method == "GET" and path.startswith("status/"):
            self._fulfil(
                route, self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
            )
        elif request.method == "GET" and re.fullmatch(r"jobs/[^/]+/files/[^/]+", path):
            self._serve_file(route, path.rsplit("/", 1)[1])
        elif request.method == "POST" and re.fullmatch(r"jobs/[^/]+/meshes", path):
            self.remake_requests.append(request.post_data_json)
            self._fulfil(route, self.remake_reply)
        elif request.method == "DELETE" and path.startswith("jobs/"):
            self._fulfil(route, self.cancel_reply)
        elif path.startswith("download/"):
            if request.method == "HEAD" and self.download_check_reply is not None:
                self._fulfil(route, self.download_check_reply)
            else:
                route.fallback()
        else:
            self._fulfil(route, (404, {"error": "Not found.", "code": "not_found"}))

    def _serve_file(self, route: Route, name: str) -> None:
        if name in self.file_replies:
            self._fulfil(route, self.file_replies[name])
            return
        data = result_files().get(name)
        if data is None:
            self._fulfil(route, (404, {"error": "No such file.", "code": "not_found"}))
            return
        route.fulfill(status=200, content_type="application/octet-stream", body=data)

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
