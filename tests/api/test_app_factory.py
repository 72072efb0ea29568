"""The application factory and configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.app import create_app
from mrimesh.config import Settings


def test_settings_come_from_prefixed_environment_variables() -> None:
    settings = Settings.from_env(
        {"MRIMESH_PORT": "9000", "MRIMESH_DATA_DIR": "/srv/mri", "MRIMESH_MAX_ATTEMPTS": "5"}
    )
    assert settings.port == 9000
    assert settings.data_dir == Path("/srv/mri")
    assert settings.max_attempts == 5
    assert settings.redis_url == Settings().redis_url


def test_a_malformed_number_names_the_variable() -> None:
    with pytest.raises(ValueError, match="MRIMESH_PORT"):
        Settings.from_env({"MRIMESH_PORT": "eighty"})


def test_factory_applies_the_upload_limit(settings: Settings) -> None:
    app = create_app({"SETTINGS": settings})
    assert app.config["MAX_CONTENT_LENGTH"] == settings.max_upload_bytes
    assert settings.jobs_dir.is_dir()


def test_page_is_served_at_the_root(client) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert b"<html" in response.data.lower()
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
