"""The Dramatiq middleware that owns every Redis write about a job's state and timings.

Hooks, in the order a job meets them:

* ``before_worker_boot``: load the models, once per process, before any message is taken.
* ``after_worker_boot``: start the sidecar process (heartbeats, per-job time limit).
* ``before_process_message``: move the job to ``processing``, count the attempt, install a
  progress reporter for the pipeline's ``report_step`` calls. A job that may not run (cancelled,
  expired, already finished by a redelivered twin) is skipped.
* the reporter: turns ``(step, fraction)`` into ``current_step``, an expected-time-weighted,
  never-decreasing ``progress_percent`` and a heartbeat, at most a few writes a second, one round
  trip each; it stops the pipeline when the job was cancelled.
* ``after_process_message``: completed (timings recorded), failed for good, or queued for a retry.

A failure inside any hook is logged and never fails the job.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis
from dramatiq import Broker, Middleware, Worker
from dramatiq.broker import MessageProxy
from dramatiq.middleware import SkipMessage

from gpu_worker.progress import Cancelled, reset_reporter, set_reporter
from gpu_worker.sidecar import start_sidecar
from mrimesh.config import Settings
from mrimesh.contract import ACTOR_NAME, PRIOR_STEP_WEIGHTS, STEP_NAMES, JobStatus
from mrimesh.eta import progress_percent
from mrimesh.jobs import JobStore
from mrimesh.paths import JobPaths, is_disk_full
from mrimesh.stats import StatsReader
from mrimesh.timefmt import now
from mrimesh.workers import WorkerRegistry

logger = logging.getLogger(__name__)


@dataclass
class RunningJob:
    """What the middleware tracks about the job a worker thread is running."""

    job_id: str
    started_at: float
    estimates: dict[str, float]
    step: str | None = None
    step_started_at: float = 0.0
    completed: dict[str, float] = field(default_factory=dict)
    last_write: float = 0.0
    start_gap: float | None = None
    reporter_token: object | None = None


class JobProgress(Middleware):
    """Turns pipeline step events into job records, timings and heartbeats in Redis."""

    def __init__(
        self,
        settings: Settings,
        client: redis.Redis,
        *,
        input_errors: tuple[type[BaseException], ...] = (),
        preload: Callable[[Settings], None] | None = None,
        start_sidecar_process: bool = True,
    ):
        self.settings = settings
        self.jobs = JobStore(client, settings)
        self.stats = StatsReader(client, settings)
        self.workers = WorkerRegistry(client, settings)
        self.input_errors = input_errors
        self.preload = preload
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}"
        self.start_sidecar = start_sidecar_process
        self._running: dict[str, RunningJob] = {}
        self._last_finished_at: float | None = None
        self._sidecar: subprocess.Popen | None = None

    # -- process lifecycle -----------------------------------------------------------------
    def before_worker_boot(self, broker: Broker, worker: Worker) -> None:
        """Load the models and start the meshing helpers, before any message is taken."""
        if self.preload is not None:
            started = time.perf_counter()
            self.preload(self.settings)
            logger.info("models and meshing helpers ready in %.1f s", time.perf_counter() - started)

    def after_worker_boot(self, broker: Broker, worker: Worker) -> None:
        """Start the sidecar that reports this worker alive and enforces the time limit."""
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}"
        if self.start_sidecar:
            self._sidecar = start_sidecar(self.worker_id)

    def before_worker_shutdown(self, broker: Broker, worker: Worker) -> None:
        """Stop the sidecar and leave the registry."""
        if self._sidecar is not None:
            self._sidecar.terminate()
            self._sidecar.wait(10)
            self._sidecar = None
        try:
            self.workers.leave(self.worker_id)
        except redis.exceptions.RedisError:
            logger.warning("could not deregister worker %s", self.worker_id)

    # -- message lifecycle -----------------------------------------------------------------
    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        """Start the job, or skip a message whose job may not run."""
        if message.actor_name != ACTOR_NAME:
            return
        job_id = str(message.args[0])
        try:
            record = self.jobs.get(job_id)
            if record is None or record.status is not JobStatus.QUEUED:
                state = "gone" if record is None else record.status.value
                logger.info("job %s is %s; skipping its message", job_id, state)
                raise SkipMessage(f"job {job_id} is {state}")
            model = self.stats.timing_model()
            estimates = model.step_estimates(record.input_voxels)
            started = self.jobs.mark_started(
                job_id, worker_id=self.worker_id, step_estimates=estimates
            )
        except redis.exceptions.RedisError:
            logger.exception("could not mark job %s as started", job_id)
            raise
        if started is None:
            raise SkipMessage(f"job {job_id} changed state before it could start")
        started_at = now()
        waited_for_us = (
            self._last_finished_at is not None
            and record.queued_at is not None
            and record.queued_at < self._last_finished_at
        )
        running = RunningJob(
            job_id=job_id,
            started_at=started_at,
            estimates=estimates or dict(PRIOR_STEP_WEIGHTS),
            start_gap=started_at - self._last_finished_at if waited_for_us else None,
        )
        running.reporter_token = set_reporter(lambda step, f: self._report(running, step, f))
        self._running[message.message_id] = running
        logger.info("job %s started (attempt %d)", job_id, started.attempt + 1)

    def after_process_message(
        self,
        broker: Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        """Record how the attempt ended."""
        running = self._running.pop(message.message_id, None)
        if running is None:
            return
        if running.reporter_token is not None:
            with contextlib.suppress(ValueError):
                reset_reporter(running.reporter_token)
        try:
            self._finish(running, message, result, exception)
        except Exception:
            logger.exception("could not record the end of job %s", running.job_id)
        self._last_finished_at = now()

    def after_skip_message(self, broker: Broker, message: MessageProxy) -> None:
        """Forget a skipped message."""
        self._running.pop(message.message_id, None)

    # -- internals -------------------------------------------------------------------------
    def _finish(
        self,
        running: RunningJob,
        message: MessageProxy,
        result: Any,
        exception: BaseException | None,
    ) -> None:
        job_id = running.job_id
        paths = JobPaths(self.settings.jobs_dir, job_id)
        if exception is None:
            outcome = result or {}
            if running.step is not None:
                running.completed[running.step] = now() - running.step_started_at
            steps = dict(running.completed)
            steps.update(outcome.get("steps") or {})
            record = self.jobs.mark_completed(
                job_id,
                result=outcome.get("result") or {},
                step_durations={k: v for k, v in steps.items() if k in STEP_NAMES},
                voxels=int(outcome.get("voxels") or 1),
                start_gap=running.start_gap,
            )
            if record is None:  # cancelled or expired while finishing
                paths.remove()
            logger.info("job %s completed in %.1f s", job_id, now() - running.started_at)
            return
        if isinstance(exception, Cancelled):
            # The job left "processing" under us: cancelled or expired (delete its files), or
            # requeued by the janitor (keep the upload for the next attempt).
            record = self.jobs.get(job_id)
            if record is None or record.status in (JobStatus.CANCELLED, JobStatus.EXPIRED):
                paths.remove()
            logger.info(
                "job %s stopped: it is now %s", job_id, record.status.value if record else "gone"
            )
            return
        if isinstance(exception, self.input_errors):
            code = getattr(exception, "code", None) or "invalid_input"
            self.jobs.mark_failed(job_id, error=_reason(exception), code=str(code))
            paths.remove()
            logger.info("job %s failed on its input (%s)", job_id, code)
            return
        record = self.jobs.get(job_id)
        attempt = record.attempt if record else self.settings.max_attempts
        reason = _reason(exception)
        if attempt >= self.settings.max_attempts or message.failed:
            self.jobs.mark_failed(
                job_id,
                error=f"Processing failed {attempt} times; last error: {reason}",
                code="insufficient_storage" if is_disk_full(exception) else "processing_error",
            )
            paths.remove()
            logger.warning("job %s failed for good: %s", job_id, reason)
        else:
            self.jobs.mark_retrying(job_id, reason=f"Attempt {attempt} failed: {reason}")
            logger.warning("job %s will be retried: %s", job_id, reason)

    def _report(self, running: RunningJob, step: str, fraction: float) -> None:
        at = now()
        changed = step != running.step
        if changed:
            if running.step is not None:
                running.completed[running.step] = at - running.step_started_at
            running.step = step
            running.step_started_at = at
        due = at - running.last_write >= self.settings.progress_write_interval_seconds
        if not (changed or due or fraction >= 1.0):
            return
        running.last_write = at
        percent = min(progress_percent(running.estimates, step, fraction), 99.0)
        status = self.jobs.report_progress(
            running.job_id,
            step=step,
            fraction=fraction,
            percent=percent,
            step_started_at=running.step_started_at,
            completed_steps=running.completed,
            at=at,
        )
        if status is not JobStatus.PROCESSING:
            raise Cancelled(f"job {running.job_id} is {status.value if status else 'gone'}")


def _reason(exception: BaseException) -> str:
    if is_disk_full(exception):  # the OSError's text would show a server path, not help the user
        return "the server ran out of disk space while writing the results."
    text = str(exception).strip() or type(exception).__name__
    return text if len(text) <= 500 else text[:497] + "..."
