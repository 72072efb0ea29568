"""The Dramatiq middleware that turns a worker's events into lifecycle transitions.

Hooks, in the order a job meets them:

* ``before_worker_boot``: migrate old Redis data, load the models, once per process, before any
  message is taken.
* ``after_worker_boot``: learn this process's worker id (the process guard,
  :mod:`gpu_worker.process_guard`, starts and keeps the sidecar).
* ``before_process_message``: :meth:`~mrimesh.lifecycle.Lifecycle.start` the job and install a
  step clock (:class:`~gpu_worker.progress.StepClock`) for the pipeline's ``with step(...)``
  blocks. A job that may not run (cancelled, expired, already taken by a redelivered twin) is
  skipped.
* the clock's reporter: turns ``(step, fraction)`` and the clock's times into
  :meth:`~mrimesh.lifecycle.Lifecycle.progress`, an expected-time-weighted, never-decreasing
  ``progress_percent`` and a heartbeat, at most a few writes a second; it stops the pipeline when
  the job was cancelled.
* ``after_process_message``: the actor's :class:`~mrimesh.outcome.JobOutcome` completes the job;
  an exception fails it (bad input), retries or fails it (anything else), or, when the job left
  ``processing`` under it, lets the lifecycle tidy up.

Every decision about the job's fate is the lifecycle's; a failure inside any hook is logged and
never fails the job.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from dramatiq import Broker, Middleware, Worker
from dramatiq.broker import MessageProxy
from dramatiq.middleware import SkipMessage

from gpu_worker.progress import Cancelled, StepClock, install_clock, uninstall_clock
from mrimesh.config import Settings
from mrimesh.contract import JOB_ACTORS, STEP_IDS, JobStatus, prior_step_weights
from mrimesh.errors import ErrorCode
from mrimesh.eta import progress_percent
from mrimesh.lifecycle import Lifecycle
from mrimesh.migrations import migrate_quietly
from mrimesh.outcome import JobOutcome
from mrimesh.paths import is_disk_full
from mrimesh.storage import StorageError
from mrimesh.timefmt import now
from mrimesh.workers import WorkerRegistry

logger = logging.getLogger(__name__)


@dataclass
class RunningJob:
    """What the middleware tracks about the job a worker thread is running."""

    job_id: str
    started_at: float
    estimates: dict[str, float]
    clock: StepClock
    clock_token: object | None = None
    last_write: float = 0.0
    start_gap: float | None = None


class JobProgress(Middleware):
    """Turns a worker's events (start, steps, outcome) into lifecycle transitions."""

    #: Exceptions an actor lists in ``throws`` end an attempt as expected (a bad input, a
    #: cancellation): Dramatiq logs them without a traceback. Declared here because the broker
    #: has no ``Retries``, which would otherwise declare it.
    actor_options = frozenset({"throws"})

    def __init__(
        self,
        settings: Settings,
        client: redis.Redis,
        *,
        input_errors: tuple[type[BaseException], ...] = (),
        preload: Callable[[Settings], None] | None = None,
    ):
        self.settings = settings
        self.client = client
        self.lifecycle = Lifecycle(client, settings)
        self.workers = WorkerRegistry(client, settings)
        self.input_errors = input_errors
        self.preload = preload
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}"
        self._running: dict[str, RunningJob] = {}
        self._last_finished_at: float | None = None

    # -- process lifecycle -----------------------------------------------------------------
    def before_worker_boot(self, broker: Broker, worker: Worker) -> None:
        """Migrate old Redis data, load the models and start the meshing helpers, before any
        message is taken."""
        migrate_quietly(self.client, self.settings)
        if self.preload is not None:
            started = time.perf_counter()
            self.preload(self.settings)
            logger.info("models and meshing helpers ready in %.1f s", time.perf_counter() - started)

    def after_worker_boot(self, broker: Broker, worker: Worker) -> None:
        """Learn this worker process's id (the process guard starts its sidecar)."""
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}"

    def before_worker_shutdown(self, broker: Broker, worker: Worker) -> None:
        """Leave the registry."""
        try:
            self.workers.leave(self.worker_id)
        except redis.exceptions.RedisError:
            logger.warning("could not deregister worker %s", self.worker_id)

    # -- message lifecycle -----------------------------------------------------------------
    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        """Start the job, or skip a message whose job may not run."""
        if message.actor_name not in JOB_ACTORS:
            return
        job_id = str(message.args[0])
        try:
            started = self.lifecycle.start(job_id, worker_id=self.worker_id)
        except redis.exceptions.RedisError:
            logger.exception("could not start job %s", job_id)
            raise
        if started is None:  # cancelled, expired, gone, or taken by a redelivered twin
            logger.info("job %s is not queued; skipping its message", job_id)
            raise SkipMessage(f"job {job_id} is not queued")
        started_at = now()
        waited_for_us = (
            self._last_finished_at is not None
            and started.queued_at is not None
            and started.queued_at < self._last_finished_at
        )
        running = RunningJob(
            job_id=job_id,
            started_at=started_at,
            estimates=started.step_estimates or prior_step_weights(started.kind),
            clock=StepClock(),
            start_gap=started_at - self._last_finished_at if waited_for_us else None,
        )
        running.clock.reporter = lambda step, fraction: self._report(running, step, fraction)
        running.clock_token = install_clock(running.clock)
        self._running[message.message_id] = running
        logger.info("job %s started (attempt %d)", job_id, started.attempt)

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
        running.clock.end()
        if running.clock_token is not None:
            with contextlib.suppress(ValueError):
                uninstall_clock(running.clock_token)
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
        if exception is None and not isinstance(result, JobOutcome):
            exception = TypeError(f"the actor returned {type(result).__name__}, not a JobOutcome")
        if exception is None:
            self.lifecycle.complete(
                job_id,
                result,
                step_seconds={k: v for k, v in running.clock.seconds.items() if k in STEP_IDS},
                start_gap=running.start_gap,
            )
            logger.info("job %s completed in %.1f s", job_id, now() - running.started_at)
        elif isinstance(exception, Cancelled):
            status = self.lifecycle.stopped(job_id)
            logger.info("job %s stopped: it is now %s", job_id, status or "gone")
        elif isinstance(exception, self.input_errors):
            code = _input_code(exception)
            self.lifecycle.fail(job_id, code=code, error=_reason(exception))
            logger.info("job %s failed on its input (%s)", job_id, code)
        else:
            code = _failure_code(exception)
            record = self.lifecycle.attempt_failed(job_id, reason=_reason(exception), code=code)
            state = record.status.value if record else "gone"
            logger.warning("job %s attempt failed (%s): %s", job_id, state, exception)

    def _report(self, running: RunningJob, step: str, fraction: float) -> None:
        at = now()
        clock = running.clock
        changed = clock.started_at > running.last_write
        due = at - running.last_write >= self.settings.progress_write_interval_seconds
        if not (changed or due or fraction >= 1.0):
            return
        running.last_write = at
        percent = min(progress_percent(running.estimates, step, fraction), 99.0)
        status = self.lifecycle.progress(
            running.job_id,
            step=step,
            fraction=fraction,
            percent=percent,
            step_started_at=clock.started_at,
            completed_steps=clock.seconds,
            at=at,
        )
        if status is not JobStatus.PROCESSING:
            raise Cancelled(f"job {running.job_id} is {status.value if status else 'gone'}")


def _failure_code(exception: BaseException) -> ErrorCode:
    """The code of an attempt that failed for a reason other than its input."""
    if is_disk_full(exception):
        return ErrorCode.INSUFFICIENT_STORAGE
    if isinstance(exception, StorageError):
        return ErrorCode.STORAGE_UNAVAILABLE
    return ErrorCode.PROCESSING_ERROR


def _input_code(exception: BaseException) -> ErrorCode:
    """The registry code an input error carries (``invalid_input`` for one it lacks)."""
    try:
        return ErrorCode(getattr(exception, "code", None) or ErrorCode.INVALID_INPUT)
    except ValueError:
        logger.warning("input error with a code the registry lacks: %r", exception)
        return ErrorCode.INVALID_INPUT


def _reason(exception: BaseException) -> str:
    if is_disk_full(exception):  # the OSError's text would show a server path, not help the user
        return "the server ran out of disk space while writing the results."
    text = str(exception).strip() or type(exception).__name__
    return text if len(text) <= 500 else text[:497] + "..."
