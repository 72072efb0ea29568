"""A per-job time limit that also works while the hot loop is inside C or CUDA code.

A watchdog thread checks the running job's age; past the limit it marks the job failed with a
timeout reason and ends the whole process (``os._exit``). The process supervisor (``make run`` or
the compose restart policy) starts a fresh worker; the job's message is later skipped because the
job is already failed.
"""

from __future__ import annotations

import logging
import os
import threading

from dramatiq import Broker, Middleware, Worker

from gpu_worker.middleware import JobProgress
from mrimesh.config import Settings
from mrimesh.paths import JobPaths
from mrimesh.timefmt import now

logger = logging.getLogger(__name__)

#: Exit status of a worker process ended by the watchdog.
EXIT_TIMEOUT = 75
#: How often the watchdog looks, in seconds.
CHECK_INTERVAL_SECONDS = 1.0


class Watchdog(Middleware):
    """Ends the process when a job runs past ``settings.job_time_limit_seconds``."""

    def __init__(self, settings: Settings, progress: JobProgress):
        self.settings = settings
        self.progress = progress
        self._stop = threading.Event()

    def after_worker_boot(self, broker: Broker, worker: Worker) -> None:
        """Start watching."""
        self._stop.clear()
        threading.Thread(target=self._watch, name="mrimesh-watchdog", daemon=True).start()

    def before_worker_shutdown(self, broker: Broker, worker: Worker) -> None:
        """Stop watching."""
        self._stop.set()

    def _watch(self) -> None:
        limit = self.settings.job_time_limit_seconds
        while not self._stop.wait(CHECK_INTERVAL_SECONDS):
            for running in self.progress.running_jobs():
                if now() - running.started_at <= limit:
                    continue
                logger.error("job %s exceeded %d s; ending this worker", running.job_id, limit)
                try:
                    self.progress.jobs.mark_failed(
                        running.job_id,
                        error=f"Processing took longer than the {limit} s limit and was stopped.",
                        code="timeout",
                    )
                    JobPaths(self.settings.jobs_dir, running.job_id).remove()
                finally:
                    os._exit(EXIT_TIMEOUT)
