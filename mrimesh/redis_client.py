"""One way to open a Redis connection, with timeouts so an outage fails fast instead of hanging."""

from __future__ import annotations

import redis

#: Seconds to wait for a connection or a reply before calling Redis unavailable.
DEFAULT_SOCKET_TIMEOUT_SECONDS = 5.0


def connect(url: str, timeout: float = DEFAULT_SOCKET_TIMEOUT_SECONDS) -> redis.Redis:
    """A client for ``url`` that fails within ``timeout`` seconds when Redis is down."""
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        health_check_interval=30,
    )


def as_text(value: bytes | str | None) -> str:
    """A Redis reply as text: bytes decoded, ``None`` as an empty string."""
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else str(value)
