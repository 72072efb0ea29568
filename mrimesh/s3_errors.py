"""S3 client errors as ours: :class:`~mrimesh.storage.StorageError` (or
:class:`~mrimesh.storage.ObjectMissing`) whose text names neither the endpoint nor a key, since it
may reach a job's status, a log line or a JSON error. The store's own error code (``AccessDenied``,
``NoSuchBucket``) or the kind of network failure is kept: it tells an operator what to fix."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import botocore.exceptions

from mrimesh.storage import ObjectMissing, StorageError

logger = logging.getLogger(__name__)


def what_failed(error: BaseException) -> str:
    """A short cause for people and logs: the store's error code or the kind of network fault."""
    if isinstance(error, botocore.exceptions.ClientError):
        return str(error.response.get("Error", {}).get("Code") or "error")
    if isinstance(
        error, botocore.exceptions.NoCredentialsError | botocore.exceptions.PartialCredentialsError
    ):
        return "no credentials"
    if isinstance(
        error, botocore.exceptions.ConnectTimeoutError | botocore.exceptions.ReadTimeoutError
    ):
        return "timed out"
    if isinstance(error, botocore.exceptions.EndpointConnectionError):
        return "could not connect"
    if isinstance(error, botocore.exceptions.ConnectionClosedError):
        return "connection closed"
    return type(error).__name__


def status_of(error: botocore.exceptions.ClientError) -> int:
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def is_missing(error: BaseException) -> bool:
    if not isinstance(error, botocore.exceptions.ClientError):
        return False
    code = error.response.get("Error", {}).get("Code")
    return code in ("NoSuchKey", "404", "NotFound") or status_of(error) == 404


@contextmanager
def translated(action: str, name: str | None = None) -> Iterator[None]:
    """Re-raise the client's errors as ours, without the endpoint, key or traceback chain."""
    try:
        yield
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
        if name is not None and is_missing(e):
            raise ObjectMissing(name) from None
        cause = what_failed(e)
        logger.warning("object store: %s failed (%s)", action, cause)
        raise StorageError(f"the file store could not {action} ({cause}).") from None
