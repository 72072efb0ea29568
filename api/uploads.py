"""``POST /upload``: store the file, check it, create the job and enqueue it."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import cast

import redis
from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from api.errors import abort
from api.extensions import get_services
from api.input_check import InputRejected, check_upload
from api.upload_stream import StreamingUploadRequest, UploadFile, store_upload
from mrimesh import limits
from mrimesh.enqueue import enqueue_job
from mrimesh.errors import ErrorCode
from mrimesh.print_options import (
    OPTIONS_OBJECT,
    InvalidOption,
    options_document,
    parse_print_options,
)
from mrimesh.storage import input_name

logger = logging.getLogger(__name__)
bp = Blueprint("uploads", __name__)


@bp.post("/upload")
def upload() -> ResponseReturnValue:
    """Accept one MRI as multipart field ``file`` and answer 202 with the new job."""
    services = get_services()
    services.redis.ping()  # refuse before reading the body while Redis is down (503)
    file = request.files.get("file")
    if file is None or not file.filename:
        abort(ErrorCode.NO_FILE)
    accepted = limits.input_kind(file.filename)
    if accepted is None:
        abort(ErrorCode.UNSUPPORTED_TYPE)
    suffix, kind = accepted
    try:  # print options as form fields beside the file (issue 11); none: the defaults
        options = parse_print_options(request.form.to_dict(), text=True)
    except InvalidOption as e:
        abort(ErrorCode.INVALID_OPTION, e.message)
    job_id = cast(StreamingUploadRequest, request).upload_job_id
    # The body is already in a temporary file (StreamingUploadRequest); link it under a name
    # with the right suffix, check it, then put it in the store: the job exists only after that.
    # With S3 most of it is in the bucket already, as parts nobody sees until the put completes.
    staged = Path(services.settings.data_dir) / "tmp" / f"upload-{job_id}{suffix}"
    try:
        size = store_upload(file.stream, staged)
        checked = check_upload(staged, kind)
        if isinstance(file.stream, UploadFile):
            file.stream.complete()
        else:
            services.storage.put(job_id, input_name(suffix), staged)
        chosen = staged.with_name(f"options-{job_id}.json")  # never the upload's (linked) file
        try:
            chosen.write_text(json.dumps(options_document(options)), encoding="utf-8")
            services.storage.put(job_id, OPTIONS_OBJECT, chosen)
        finally:
            chosen.unlink(missing_ok=True)
    except InputRejected as e:  # the request's close aborts a streamed put
        logger.info("upload rejected (%s)", e.code)
        abort(e.code, e.message)
    except BaseException:
        services.lifecycle.discard(job_id)
        raise
    finally:
        staged.unlink(missing_ok=True)
    try:
        record = services.lifecycle.create(
            job_id, input_kind=checked.kind, input_bytes=size, input_voxels=checked.voxels
        )
        enqueue_job(services.broker, job_id)
    except redis.exceptions.RedisError:
        services.lifecycle.discard(job_id)  # nothing is left half-created
        raise
    logger.info("job %s queued (%s, %d bytes)", job_id, kind, size)
    document = services.status.render(job_id, at=record.created_at) or {}
    document["status_url"] = f"/status/{job_id}"
    return jsonify(document), 202, {"Location": f"/status/{job_id}"}
