"""Per-client rate limits (flask-limiter, counters in the same Redis).

Uploads are limited per client address; polling is limited per client address *and* job, so a
browser polling every 2 s never comes near its limit however many tabs share one address.
"""

from __future__ import annotations

from flask import Flask, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from werkzeug.middleware.proxy_fix import ProxyFix

from mrimesh.config import Settings

limiter = Limiter(key_func=get_remote_address, headers_enabled=True, swallow_errors=True)


def per_client_and_job() -> str:
    """Rate-limit key for one client polling one job."""
    job_id = (request.view_args or {}).get("job_id", "")
    return f"{get_remote_address()}:{job_id}"


def init_app(app: Flask, settings: Settings) -> None:
    """Store counters in Redis and trust ``proxy_hops`` reverse proxies for client addresses."""
    if settings.proxy_hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxy_hops)  # type: ignore[method-assign]
    app.config.setdefault("RATELIMIT_STORAGE_URI", settings.redis_url)
    app.config.setdefault("RATELIMIT_KEY_PREFIX", f"{settings.key_prefix}:ratelimit")
    app.config.setdefault("RATELIMIT_STRATEGY", "moving-window")
    limiter.init_app(app)


def upload_limit() -> str:
    """The configured upload limit of the current app."""
    from api.extensions import get_services

    return get_services().settings.upload_rate_limit


def poll_limit() -> str:
    """The configured polling limit of the current app."""
    from api.extensions import get_services

    return get_services().settings.poll_rate_limit
