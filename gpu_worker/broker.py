"""The worker's Dramatiq broker: Redis and our lifecycle middleware; no broker retries, no thread
time limit.

A failed attempt is retried (or failed for good) by :mod:`mrimesh.lifecycle`, which counts attempts
in the job record and enqueues a fresh message; Dramatiq's ``Retries`` would count them a second
time, so it is not installed (and a failed message is simply acknowledged).

Dramatiq's ``TimeLimit`` raises inside the worker thread, which never happens while the hot loop
is inside C or CUDA code; the per-job limit is enforced by the worker's sidecar process instead
(:mod:`gpu_worker.sidecar`), which ends the worker. The worker process's place in the process
tree (it dies with Dramatiq's parent process, its sidecar is kept running) is
:mod:`gpu_worker.process_guard`.
"""

from __future__ import annotations

import logging

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import Callbacks, CurrentMessage, Pipelines, ShutdownNotifications

from gpu_worker.middleware import JobProgress
from gpu_worker.pipeline.errors import InputError
from gpu_worker.pipeline.models import preload
from gpu_worker.process_guard import ProcessGuard
from mrimesh.config import Settings
from mrimesh.redis_client import connect

#: Milliseconds without a Dramatiq heartbeat after which a consumer's unacked messages may be
#: requeued by Dramatiq's own maintenance (our janitor usually recovers the job sooner).
BROKER_HEARTBEAT_TIMEOUT_MS = 15_000


def build_broker(settings: Settings) -> RedisBroker:
    """A Redis broker with our lifecycle middleware first."""
    client = connect(settings.redis_url)
    progress = JobProgress(
        settings,
        client,
        input_errors=(InputError,),
        preload=preload,
    )
    middleware = [
        # First, so that at shutdown it stops the sidecar before the worker leaves the registry.
        ProcessGuard(worker_id=lambda: progress.worker_id),
        progress,
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        CurrentMessage(),
    ]
    return RedisBroker(
        client=client,
        namespace=settings.dramatiq_namespace,
        middleware=middleware,
        heartbeat_timeout=BROKER_HEARTBEAT_TIMEOUT_MS,
    )


def _hide_result_discarded_warning(record: logging.LogRecord) -> bool:
    """Our actor's return value is consumed by :class:`JobProgress`, not by a Results backend."""
    return "Results middleware" not in record.getMessage()


logging.getLogger("dramatiq.worker.WorkerThread").addFilter(_hide_result_discarded_warning)
settings = Settings.from_env()
broker = build_broker(settings)
dramatiq.set_broker(broker)
