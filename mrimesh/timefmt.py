"""Time helpers: the service stores epoch seconds and speaks ISO 8601 UTC."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now() -> float:
    """Current time as epoch seconds."""
    return time.time()


def iso(epoch: float | None) -> str | None:
    """Epoch seconds as ISO 8601 UTC with a ``Z`` suffix (``None`` stays ``None``)."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_day(epoch: float) -> str:
    """The UTC calendar day of ``epoch`` as ``YYYY-MM-DD``."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d")
