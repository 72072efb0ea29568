"""One job: ``GET /status/<id>``, ``GET /download/<id>``, ``GET /jobs/<id>/files/<name>``,
``DELETE /jobs/<id>``."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import BinaryIO

from flask import Blueprint, Response, jsonify, redirect, request, send_file
from flask.typing import ResponseReturnValue

from api.errors import abort
from api.extensions import get_services
from mrimesh.contract import JobStatus
from mrimesh.errors import ErrorCode
from mrimesh.jobs import JobRecord
from mrimesh.paths import is_job_id
from mrimesh.status_view import public_document
from mrimesh.storage import RESULT_ZIP, ObjectMissing, media_type, result_file_name

logger = logging.getLogger(__name__)
bp = Blueprint("jobs", __name__)

_NOT_FOUND = "No job with this id exists; it may have expired and been deleted."
#: Bytes per read when the API streams an object from the store.
_STREAM_CHUNK_BYTES = 1024**2


def _checked_id(job_id: str) -> str:
    if not is_job_id(job_id):
        abort(ErrorCode.NOT_FOUND, _NOT_FOUND)
    return job_id


def _existing_record(job_id: str) -> JobRecord:
    """The job's record, or a 404 for a malformed or unknown id."""
    record = get_services().jobs.get(_checked_id(job_id))
    if record is None:
        abort(ErrorCode.NOT_FOUND, _NOT_FOUND)
    return record


@bp.get("/status/<job_id>")
def status(job_id: str) -> ResponseReturnValue:
    """The job's state, progress, queue position and ETA."""
    document = get_services().status.render(_checked_id(job_id))
    if document is None:
        abort(ErrorCode.NOT_FOUND, _NOT_FOUND)
    return jsonify(document), 200, {"Cache-Control": "no-store"}


@bp.get("/download/<job_id>")
def download(job_id: str) -> ResponseReturnValue:
    """The result zip (meshes, segmentation, report.json) of a completed job."""
    _completed_record(job_id)
    return _serve(
        job_id,
        RESULT_ZIP,
        filename=f"mrimesh-{job_id[:8]}.zip",
        content_type="application/zip",
        gone="The result files are no longer available.",
    )


@bp.get("/jobs/<job_id>/files/<name>")
def result_file(job_id: str, name: str) -> ResponseReturnValue:
    """One file of a completed job's results (``brain.nii.gz``, ``brain.glb``, ``report.json``).

    ``name`` must be a slug with a known suffix; it is looked up among the job's stored
    ``files/``, never used as a path.
    """
    object_name = result_file_name(name)
    if object_name is None:
        abort(ErrorCode.NOT_FOUND, "This job has no file of that name.")
    _completed_record(job_id)
    return _serve(
        job_id,
        object_name,
        filename=name,
        content_type=media_type(name),
        gone="This job has no file of that name.",
    )


def _completed_record(job_id: str) -> JobRecord:
    """The record of a completed job, or the 404/409/410 that says why there is nothing."""
    record = _existing_record(job_id)
    if record.status is JobStatus.EXPIRED:
        abort(ErrorCode.EXPIRED)
    if record.status is not JobStatus.COMPLETED:
        abort(
            ErrorCode.NOT_READY,
            f"The job is {record.status.value}; there is nothing to download yet.",
        )
    return record


def _serve(
    job_id: str, name: str, *, filename: str, content_type: str, gone: str
) -> ResponseReturnValue:
    """Send one stored object: from local disk, by redirect to a signed link, or streamed.

    ``HEAD`` ("can it be downloaded?") is answered here, without a redirect: a link is signed
    for ``GET`` only.
    """
    storage = get_services().storage
    local = storage.local_path(job_id, name)
    if local is not None:
        return send_file(
            local,
            mimetype=content_type,
            as_attachment=True,
            download_name=filename,
            max_age=0,
            conditional=True,
        )
    if request.method == "HEAD":
        if not storage.exists(job_id, name):
            abort(ErrorCode.GONE, gone)
        return Response(
            status=200, content_type=content_type, headers={"Cache-Control": "no-store"}
        )
    link = storage.link(job_id, name, filename=filename, content_type=content_type)
    if link is not None:
        if not storage.exists(job_id, name):  # else the browser would meet the store's own 404
            abort(ErrorCode.GONE, gone)
        response = redirect(link.url, code=302)
        response.headers["Cache-Control"] = "no-store"
        return response
    try:
        stream, size = storage.open(job_id, name)
    except ObjectMissing:
        abort(ErrorCode.GONE, gone)
    response = Response(
        _chunks(stream),
        status=200,
        content_type=content_type,
        direct_passthrough=True,
        headers={
            "Content-Length": str(size),
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-cache",
        },
    )
    response.call_on_close(stream.close)
    return response


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    while chunk := stream.read(_STREAM_CHUNK_BYTES):
        yield chunk


@bp.delete("/jobs/<job_id>")
def cancel(job_id: str) -> ResponseReturnValue:
    """Cancel a queued job now, or a running one at its next step boundary; files are removed."""
    services = get_services()
    record = _existing_record(job_id)
    if record.status.is_terminal:
        abort(ErrorCode.ALREADY_FINISHED, f"The job is already {record.status.value}.")
    cancelled = services.lifecycle.cancel(job_id)
    if cancelled is None:
        abort(ErrorCode.ALREADY_FINISHED, "The job finished before it could be cancelled.")
    logger.info("job %s cancelled while %s", job_id, record.status.value)
    return jsonify(public_document(cancelled, queue_position=None, eta_seconds=None)), 200
