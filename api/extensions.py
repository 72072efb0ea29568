"""Shared clients, registered once per app and fetched with ``get_*`` helpers."""

from __future__ import annotations

from dataclasses import dataclass

import redis
from dramatiq.brokers.redis import RedisBroker
from flask import Flask, current_app

from mrimesh.config import Settings
from mrimesh.contract import QUEUE_NAME
from mrimesh.jobs import JobStore
from mrimesh.lifecycle import Lifecycle
from mrimesh.migrations import migrate_quietly
from mrimesh.redis_client import connect
from mrimesh.stats import StatsReader
from mrimesh.status_view import StatusView
from mrimesh.storage import JobStorage, open_storage

_EXTENSION_KEY = "mrimesh"


@dataclass
class Services:
    """What the views need: settings, Redis, the job store, the lifecycle, the broker and the
    file store."""

    settings: Settings
    redis: redis.Redis
    jobs: JobStore
    lifecycle: Lifecycle
    stats: StatsReader
    status: StatusView
    broker: RedisBroker
    storage: JobStorage


def init_app(app: Flask, settings: Settings) -> None:
    """Open the Redis client, the Dramatiq broker and the file store for ``app``; migrate old
    Redis data (:mod:`mrimesh.migrations`).

    The file store is checked here, so wrong credentials or a missing bucket stop the API at
    start-up (:class:`~mrimesh.storage.StorageConfigError`) instead of failing the first upload.
    """
    storage = open_storage(settings)
    storage.check()
    client = connect(settings.redis_url)
    migrate_quietly(client, settings)
    # The API only enqueues: no worker middleware, and no import of the worker's code.
    broker = RedisBroker(client=client, namespace=settings.dramatiq_namespace, middleware=[])
    broker.declare_queue(QUEUE_NAME)
    lifecycle = Lifecycle(client, settings, storage=storage, broker=broker)
    jobs = lifecycle.jobs
    stats = StatsReader(client, settings)
    app.extensions[_EXTENSION_KEY] = Services(
        settings=settings,
        redis=client,
        jobs=jobs,
        lifecycle=lifecycle,
        stats=stats,
        status=StatusView(jobs, stats),
        broker=broker,
        storage=storage,
    )


def get_services() -> Services:
    """The current app's services."""
    return get_services_of(current_app)


def get_services_of(app: Flask) -> Services:
    """``app``'s services, outside a request."""
    return app.extensions[_EXTENSION_KEY]
