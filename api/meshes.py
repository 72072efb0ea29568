"""``POST /jobs/<id>/meshes``: re-make a finished job's printed pieces with new print options.

The body is a JSON object of print options (:mod:`mrimesh.print_options`; ``{}`` takes the
defaults). The answer is a new job (202, its status document with ``job_id`` to poll) that goes
through the same queue, progress, ETA, status and download as an upload; its worker meshes the
finished job's saved label map instead of segmenting again. The finished job and its files are
left as they are, whatever happens to the re-make. ``GET /print-options`` says what each option
accepts, for a page to build its controls from.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

import redis
from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from api.errors import abort
from api.extensions import get_services
from mrimesh.contract import REMAKE_ACTOR_NAME, JobKind, JobStatus
from mrimesh.enqueue import enqueue_job
from mrimesh.errors import ErrorCode
from mrimesh.paths import is_job_id, new_job_id
from mrimesh.print_options import (
    OPTIONS_OBJECT,
    InvalidOption,
    allowed_ranges,
    options_document,
    parse_print_options,
)
from mrimesh.storage import FILES_PREFIX
from mrimesh.wall_fit import remake_wall_refusal

logger = logging.getLogger(__name__)
bp = Blueprint("meshes", __name__)

_NOT_FOUND = "No job with this id exists; it may have expired and been deleted."
#: The stored file a re-make starts from (plan contract 6).
LABELS_OBJECT = f"{FILES_PREFIX}labels.nii.gz"


@bp.get("/print-options")
def print_options() -> ResponseReturnValue:
    """Every print option with its allowed values and default."""
    return jsonify(allowed_ranges()), 200, {"Cache-Control": "max-age=3600"}


@bp.post("/jobs/<job_id>/meshes")
def remake(job_id: str) -> ResponseReturnValue:
    """Queue a re-make of ``job_id``'s pieces with the options in the JSON body."""
    if not is_job_id(job_id):
        abort(ErrorCode.NOT_FOUND, _NOT_FOUND)
    services = get_services()
    body = request.get_json(silent=True) if request.content_length else {}
    if body is None:
        abort(ErrorCode.BAD_REQUEST, "The body must be a JSON object of print options.")
    try:
        options = parse_print_options(body)
    except InvalidOption as e:
        abort(ErrorCode.INVALID_OPTION, e.message)
    source = services.jobs.get(job_id)
    if source is None:
        abort(ErrorCode.NOT_FOUND, _NOT_FOUND)
    if source.status is JobStatus.EXPIRED:
        abort(
            ErrorCode.EXPIRED,
            "This job has expired and its files were deleted; upload the scan again.",
        )
    if source.status in (JobStatus.QUEUED, JobStatus.PROCESSING):
        abort(
            ErrorCode.NOT_READY,
            f"The job is {source.status.value}; re-make it once it has completed.",
        )
    if source.status is not JobStatus.COMPLETED or not services.storage.exists(
        job_id, LABELS_OBJECT
    ):
        abort(
            ErrorCode.NOT_REMAKEABLE,
            f"A {source.status.value} job has no segmentation to re-make from; upload the scan "
            "again.",
        )
    refusal = remake_wall_refusal(options, source.result)
    if refusal is not None:
        abort(ErrorCode.INVALID_OPTION, refusal)
    new_id = new_job_id()
    staging = services.settings.data_dir / "tmp"
    staging.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=staging) as folder:
        staged = Path(folder) / OPTIONS_OBJECT
        staged.write_text(json.dumps(options_document(options, job_id)), encoding="utf-8")
        services.storage.put(new_id, OPTIONS_OBJECT, staged)
    try:
        record = services.lifecycle.create(
            new_id,
            input_kind="remake",
            input_bytes=0,
            input_voxels=source.input_voxels,
            kind=JobKind.REMAKE,
            source_job_id=job_id,
        )
        enqueue_job(services.broker, new_id, actor_name=REMAKE_ACTOR_NAME)
    except redis.exceptions.RedisError:
        services.lifecycle.discard(new_id)
        raise
    logger.info("job %s queued: re-make of %s", new_id, job_id)
    document = services.status.render(new_id, at=record.created_at) or {}
    document["status_url"] = f"/status/{new_id}"
    return jsonify(document), 202, {"Location": f"/status/{new_id}"}
