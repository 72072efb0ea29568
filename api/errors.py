"""One JSON shape for every error: ``{"error": "<message>", "code": "<slug>"}``.

Codes, their HTTP statuses and their words come from the registry, :mod:`mrimesh.errors`.
"""

from __future__ import annotations

import logging
from typing import NoReturn

import redis
from flask import Flask, jsonify
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from mrimesh.errors import ErrorCode
from mrimesh.paths import is_disk_full
from mrimesh.storage import StorageError

logger = logging.getLogger(__name__)


class ApiError(HTTPException):
    """An HTTP error with a registry code; its status is the code's."""

    def __init__(self, code: ErrorCode, message: str | None = None):
        super().__init__(description=message or code.message)
        self.code = code.http_status
        self.error_code = code


def abort(code: ErrorCode, message: str | None = None) -> NoReturn:
    """Stop the request with a JSON error: ``code``'s HTTP status, ``message`` or the code's own
    words."""
    raise ApiError(ErrorCode(code), message)


def error_response(
    code: ErrorCode, message: str | None = None, retry_after: int | None = None
) -> ResponseReturnValue:
    """A JSON error response; ``retry_after`` (seconds) for a condition that will pass."""
    headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
    return jsonify(error=message or code.message, code=code.value), code.http_status, headers


def init_app(app: Flask) -> None:
    """Turn every error, including Redis outages, into the JSON shape."""

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException) -> ResponseReturnValue:
        if isinstance(e, ApiError):
            code, message = e.error_code, e.description
        else:  # Werkzeug's own (unknown route, method, body too large) or the rate limiter's
            code = ErrorCode.for_http_status(e.code or 500)
            message = code.message
            if code is ErrorCode.TOO_LARGE:
                limit = app.config.get("MAX_CONTENT_LENGTH") or 0
                message = f"The file is larger than the {limit / 1024**3:g} GiB limit."
        response = e.get_response()
        response.data = jsonify(error=message, code=code.value).get_data()
        response.content_type = "application/json"
        return response

    @app.errorhandler(redis.exceptions.RedisError)
    def redis_down(e: redis.exceptions.RedisError) -> ResponseReturnValue:
        logger.warning("Redis unavailable: %s", e)
        return error_response(ErrorCode.UNAVAILABLE, retry_after=10)

    @app.errorhandler(StorageError)
    def storage_down(e: StorageError) -> ResponseReturnValue:
        logger.warning("file store unavailable: %s", e)
        return error_response(ErrorCode.STORAGE_UNAVAILABLE, retry_after=30)

    @app.errorhandler(OSError)
    def disk_error(e: OSError) -> ResponseReturnValue:
        if not is_disk_full(e):
            return internal_error(e)
        logger.error("the data disk is full: %s", e)
        return error_response(ErrorCode.INSUFFICIENT_STORAGE, retry_after=60)

    @app.errorhandler(Exception)
    def internal_error(e: Exception) -> ResponseReturnValue:
        logger.exception("unhandled error")
        return error_response(ErrorCode.INTERNAL_ERROR)
