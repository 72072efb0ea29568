"""The static page in ``web/``, served at ``/`` in local runs (nginx may serve it in compose)."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, send_from_directory
from flask.typing import ResponseReturnValue

#: The build-free frontend, shipped with the repository.
WEB_DIR = Path(__file__).resolve().parent.parent / "web"

bp = Blueprint("frontend", __name__, static_folder=str(WEB_DIR), static_url_path="")


@bp.get("/")
def index() -> ResponseReturnValue:
    """The upload page."""
    response = send_from_directory(current_app.config.get("WEB_DIR", WEB_DIR), "index.html")
    response.headers["Cache-Control"] = "no-cache"
    return response
