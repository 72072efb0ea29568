"""One JSON shape for every error: ``{"error": "<message>", "code": "<slug>"}``."""

from __future__ import annotations

import logging

import redis
from flask import Flask, jsonify
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from mrimesh.paths import is_disk_full
from mrimesh.storage import StorageError

logger = logging.getLogger(__name__)

_DEFAULT_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    410: "gone",
    413: "too_large",
    415: "unsupported_type",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
    507: "insufficient_storage",
}

_FRIENDLY_MESSAGES = {
    404: "Not found.",
    405: "This method is not allowed here.",
    413: "The file is too large.",
    429: "Too many requests; please slow down and try again shortly.",
}


class ApiError(HTTPException):
    """An HTTP error that carries a machine-readable ``code`` slug."""

    def __init__(self, status: int, message: str, code: str | None = None):
        super().__init__(description=message)
        self.code = status
        self.slug = code or _DEFAULT_CODES.get(status, "error")


def abort(status: int, message: str, code: str | None = None) -> None:
    """Stop the request with a JSON error."""
    raise ApiError(status, message, code)


def error_response(
    status: int, message: str, code: str, retry_after: int | None = None
) -> ResponseReturnValue:
    """A JSON error response; ``retry_after`` (seconds) for a condition that will pass."""
    headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
    return jsonify(error=message, code=code), status, headers


def init_app(app: Flask) -> None:
    """Turn every error, including Redis outages, into the JSON shape."""

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException) -> ResponseReturnValue:
        status = e.code or 500
        slug = getattr(e, "slug", None) or _DEFAULT_CODES.get(status, "error")
        message = e.description if isinstance(e, ApiError) else None
        message = message or _FRIENDLY_MESSAGES.get(status) or e.description or e.name
        if status == 413 and not isinstance(e, ApiError):
            limit = app.config.get("MAX_CONTENT_LENGTH") or 0
            message = f"The file is larger than the {limit / 1024**3:g} GiB limit."
        response = e.get_response()
        response.data = jsonify(error=message, code=slug).get_data()
        response.content_type = "application/json"
        return response

    @app.errorhandler(redis.exceptions.RedisError)
    def redis_down(e: redis.exceptions.RedisError) -> ResponseReturnValue:
        logger.warning("Redis unavailable: %s", e)
        return error_response(
            503,
            "The job service is temporarily unavailable; please try again in a minute.",
            "unavailable",
            retry_after=10,
        )

    @app.errorhandler(StorageError)
    def storage_down(e: StorageError) -> ResponseReturnValue:
        logger.warning("file store unavailable: %s", e)
        return error_response(
            503,
            "The file store is temporarily unavailable; please try again in a minute.",
            "storage_unavailable",
            retry_after=30,
        )

    @app.errorhandler(OSError)
    def disk_error(e: OSError) -> ResponseReturnValue:
        if not is_disk_full(e):
            return internal_error(e)
        logger.error("the data disk is full: %s", e)
        return error_response(
            507,
            "The server has no room for this upload right now; please try again later.",
            "insufficient_storage",
            retry_after=60,
        )

    @app.errorhandler(Exception)
    def internal_error(e: Exception) -> ResponseReturnValue:
        logger.exception("unhandled error")
        return error_response(500, "Something went wrong on our side.", "internal_error")
