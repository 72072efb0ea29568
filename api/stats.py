"""Operator endpoints: ``/stats``, ``/healthz`` and ``/metrics``."""

from __future__ import annotations

import redis
from flask import Blueprint, Response, jsonify
from flask.typing import ResponseReturnValue
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from api.extensions import get_services
from api.metrics import RedisStatsCollector
from mrimesh.errors import ErrorCode

bp = Blueprint("stats", __name__)


@bp.get("/stats")
def stats() -> ResponseReturnValue:
    """Counters, rolling timings, live workers and the files-per-day histogram."""
    services = get_services()
    snapshot = services.stats.snapshot()
    snapshot["max_upload_bytes"] = services.settings.max_upload_bytes
    return jsonify(snapshot), 200, {"Cache-Control": "no-store"}


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """200 when Redis answers, 503 otherwise."""
    try:
        get_services().redis.ping()
    except redis.exceptions.RedisError:
        code = ErrorCode.UNAVAILABLE
        return jsonify(
            status="unavailable", redis=False, code=code.value, error="Redis does not answer."
        ), code.http_status
    return jsonify(status="ok", redis=True), 200


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus text exposition."""
    services = get_services()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RedisStatsCollector(services.jobs, services.stats))
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
