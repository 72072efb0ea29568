"""Fixtures: a private Redis, settings isolated per test, the Flask app, and the live service."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from api.app import create_app
from mrimesh.config import Settings
from tests.support.data import downsampled_brain
from tests.support.redis_server import RedisServer
from tests.support.s3_server import S3Server
from tests.support.service import ServiceStack


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server this test run started itself (so it may be flushed), without persistence."""
    server = RedisServer(tmp_path_factory.mktemp("redis"), persistent=False).start()
    yield server
    server.stop()


@pytest.fixture
def settings(redis_server: RedisServer, tmp_path: Path) -> Settings:
    """Settings whose keys, queue namespace and data folder belong to this test alone."""
    tag = uuid.uuid4().hex[:8]
    return Settings.from_env(
        {},
        redis_url=redis_server.url,
        data_dir=tmp_path / "data",
        key_prefix=f"test-{tag}",
        dramatiq_namespace=f"dq-{tag}",
    )


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A SeaweedFS S3 server this run started itself, with one bucket and checked signatures."""
    server = S3Server(tmp_path_factory.mktemp("s3")).start()
    yield server
    server.stop()


@pytest.fixture
def s3_settings(settings: Settings, s3_server: S3Server) -> Settings:
    """``settings`` with the S3 back end on the private SeaweedFS."""
    return dataclasses.replace(settings, **s3_server.settings_overrides())


@pytest.fixture
def redis_client(settings: Settings) -> Iterator[redis.Redis]:
    """A client of the private Redis."""
    client = redis.Redis.from_url(settings.redis_url)
    yield client
    client.close()


@pytest.fixture
def app(settings: Settings) -> Flask:
    """The API, talking to the private Redis."""
    return create_app({"SETTINGS": settings, "TESTING": True})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of the API."""
    return app.test_client()


@pytest.fixture(scope="session")
def brain_2mm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real brain MRI (MNI152 T1 from nilearn at 2 mm), small enough for fast tests."""
    return downsampled_brain(tmp_path_factory.mktemp("mri") / "brain_2mm.nii.gz", step=2)


@pytest.fixture(scope="session")
def live_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceStack]:
    """The whole service as real processes: redis-server, gunicorn API, Dramatiq worker, janitor.

    Shared by the integration and browser tests of one run; tests that break processes build
    their own stack instead.
    """
    root = tmp_path_factory.mktemp("live")
    server = RedisServer(root / "redis", persistent=True).start()
    stack = ServiceStack(redis_url=server.url, data_dir=root / "data", log_dir=root / "logs")
    try:
        stack.start_api()
        stack.start_worker()
        stack.start_janitor()
        stack.wait_for_workers(1)
        yield stack
    finally:
        stack.stop_all()
        server.stop()
