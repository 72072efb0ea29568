"""One job: ``GET /status/<id>``, ``GET /download/<id>``, ``DELETE /jobs/<id>``."""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify, send_file
from flask.typing import ResponseReturnValue

from api.errors import abort
from api.extensions import get_services
from mrimesh.contract import JobStatus
from mrimesh.jobs import JobRecord
from mrimesh.paths import JobPaths, is_job_id
from mrimesh.status_view import public_document

logger = logging.getLogger(__name__)
bp = Blueprint("jobs", __name__)

_NOT_FOUND = "No job with this id exists; it may have expired and been deleted."


def _checked_id(job_id: str) -> str:
    if not is_job_id(job_id):
        abort(404, _NOT_FOUND, "not_found")
    return job_id


def _existing_record(job_id: str) -> JobRecord:
    """The job's record, or a 404 for a malformed or unknown id."""
    record = get_services().jobs.get(_checked_id(job_id))
    if record is None:
        abort(404, _NOT_FOUND, "not_found")
    return record


@bp.get("/status/<job_id>")
def status(job_id: str) -> ResponseReturnValue:
    """The job's state, progress, queue position and ETA."""
    document = get_services().status.render(_checked_id(job_id))
    if document is None:
        abort(404, _NOT_FOUND, "not_found")
    return jsonify(document), 200, {"Cache-Control": "no-store"}


@bp.get("/download/<job_id>")
def download(job_id: str) -> ResponseReturnValue:
    """The result zip (meshes, segmentation, report.json) of a completed job."""
    services = get_services()
    record = _existing_record(job_id)
    if record.status is JobStatus.EXPIRED:
        abort(410, "This job has expired and its files were deleted.", "expired")
    if record.status is not JobStatus.COMPLETED:
        abort(
            409, f"The job is {record.status.value}; there is nothing to download yet.", "not_ready"
        )
    zip_path = JobPaths(services.settings.jobs_dir, job_id).result_zip
    if not zip_path.is_file():
        abort(410, "The result files are no longer available.", "gone")
    return send_file(
        zip_path,
        mimetype="application/zip",
        as_attachment=True,
        download_name=f"mrimesh-{job_id[:8]}.zip",
        max_age=0,
    )


@bp.delete("/jobs/<job_id>")
def cancel(job_id: str) -> ResponseReturnValue:
    """Cancel a queued job now, or a running one at its next step boundary; files are removed."""
    services = get_services()
    record = _existing_record(job_id)
    if record.status.is_terminal:
        abort(409, f"The job is already {record.status.value}.", "already_finished")
    before = services.jobs.mark_cancelled(job_id)
    if before is None:
        abort(409, "The job finished before it could be cancelled.", "already_finished")
    if before.status is JobStatus.QUEUED:
        JobPaths(services.settings.jobs_dir, job_id).remove()
    logger.info("job %s cancelled while %s", job_id, before.status.value)
    cancelled = services.jobs.get(job_id)
    return jsonify(public_document(cancelled, queue_position=None, eta_seconds=None)), 200
