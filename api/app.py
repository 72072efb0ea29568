"""The Flask application factory."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask

from api import errors, extensions, frontend, jobs, meshes, rate_limits, security, stats, uploads
from api.upload_stream import BufferedBodies, StreamingUploadRequest
from mrimesh.config import Settings


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the API. ``test_config`` may hold ``SETTINGS`` (a :class:`Settings`) and Flask keys."""
    app = Flask(__name__, static_folder=None)
    app.request_class = StreamingUploadRequest
    app.wsgi_app = BufferedBodies(app.wsgi_app)  # type: ignore[method-assign]
    config = dict(test_config or {})
    settings: Settings = config.pop("SETTINGS", None) or Settings.from_env()
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_upload_bytes,
        MAX_FORM_MEMORY_SIZE=1024**2,
        UPLOAD_TMP_DIR=str(settings.data_dir / "tmp"),
    )
    app.config.update(config)
    app.json.sort_keys = False
    settings.jobs_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    extensions.init_app(app, settings)
    errors.init_app(app)
    security.init_app(app, link_origin=extensions.get_services_of(app).storage.link_origin())
    for blueprint in (uploads.bp, jobs.bp, meshes.bp, stats.bp, frontend.bp):
        app.register_blueprint(blueprint)
    rate_limits.init_app(app, settings)
    return app
