"""``POST /upload``: store the file, check it, create the job and enqueue it."""

from __future__ import annotations

import logging

import redis
from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from api.errors import abort
from api.extensions import Services, get_services
from api.input_check import InputRejected, check_upload
from api.upload_stream import store_upload
from mrimesh import limits
from mrimesh.enqueue import enqueue_job
from mrimesh.paths import JobPaths, new_job_id

logger = logging.getLogger(__name__)
bp = Blueprint("uploads", __name__)


@bp.post("/upload")
def upload() -> ResponseReturnValue:
    """Accept one MRI as multipart field ``file`` and answer 202 with the new job."""
    services = get_services()
    services.redis.ping()  # refuse before reading the body while Redis is down (503)
    file = request.files.get("file")
    if file is None or not file.filename:
        abort(400, "No file was sent; choose a brain MRI (.nii, .nii.gz, .mgz or .zip).", "no_file")
    accepted = limits.input_kind(file.filename)
    if accepted is None:
        abort(
            415,
            "This file type is not supported. Upload a NIfTI (.nii, .nii.gz), FreeSurfer .mgz, "
            "or a .zip of one DICOM series.",
            "unsupported_type",
        )
    suffix, kind = accepted
    job_id = new_job_id()
    paths = JobPaths(services.settings.jobs_dir, job_id)
    try:
        size = store_upload(file.stream, paths.upload(suffix))
        checked = check_upload(paths.upload(suffix), kind)
    except InputRejected as e:
        paths.remove()
        logger.info("upload rejected (%s)", e.code)
        abort(422, e.message, e.code)
    except BaseException:
        paths.remove()
        raise
    try:
        record = services.jobs.create(
            job_id, input_kind=checked.kind, input_bytes=size, input_voxels=checked.voxels
        )
    except redis.exceptions.RedisError:
        paths.remove()
        raise
    try:
        enqueue_job(services.broker, job_id)
    except redis.exceptions.RedisError:
        _undo(services, paths, job_id)
        raise
    logger.info("job %s queued (%s, %d bytes)", job_id, kind, size)
    document = services.status.render(job_id, at=record.created_at) or {}
    document["status_url"] = f"/status/{job_id}"
    return jsonify(document), 202, {"Location": f"/status/{job_id}"}


def _undo(services: Services, paths: JobPaths, job_id: str) -> None:
    """Forget a job whose message could not be enqueued, so nothing is left half-created."""
    try:
        services.jobs.discard(job_id)
    except redis.exceptions.RedisError:
        logger.warning("could not discard job %s after a failed enqueue", job_id)
    paths.remove()
