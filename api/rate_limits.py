"""Per-client rate limits (flask-limiter, counters in the same Redis).

Uploads are limited per client address; polling is limited per client address *and* job, so a
browser polling every 2 s never comes near its limit however many tabs share one address.
Each app gets its own limiter, so limits follow that app's settings.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from werkzeug.middleware.proxy_fix import ProxyFix

from mrimesh.config import Settings


def per_client_and_job() -> str:
    """Rate-limit key for one client polling one job."""
    job_id = (request.view_args or {}).get("job_id", "")
    return f"{get_remote_address()}:{job_id}"


def init_app(app: Flask, settings: Settings) -> Limiter:
    """Limit uploads and polling; call after the blueprints are registered."""
    if settings.proxy_hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxy_hops)  # type: ignore[method-assign]
    limiter = Limiter(
        key_func=get_remote_address,
        app=app,
        storage_uri=settings.redis_url,
        key_prefix=f"{settings.key_prefix}:ratelimit",
        strategy="moving-window",
        headers_enabled=True,
        swallow_errors=True,  # a Redis outage answers 503 elsewhere; never 500 from here
    )
    _limit(app, limiter, "uploads.upload", settings.upload_rate_limit, get_remote_address)
    for endpoint in ("jobs.status", "jobs.download", "jobs.result_file"):
        _limit(app, limiter, endpoint, settings.poll_rate_limit, per_client_and_job)
    _limit(app, limiter, "meshes.remake", settings.remake_rate_limit, per_client_and_job)
    return limiter


def _limit(
    app: Flask, limiter: Limiter, endpoint: str, limit: str, key_func: Callable[[], str]
) -> None:
    app.view_functions[endpoint] = limiter.limit(limit, key_func=key_func)(
        app.view_functions[endpoint]
    )
