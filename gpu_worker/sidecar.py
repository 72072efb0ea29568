"""The worker's sidecar: liveness heartbeats and the per-job time limit, from its own process.

A heartbeat thread inside the worker would starve whenever the pipeline sits in C code that holds
the GIL (open3d, some numpy), making a busy worker look dead; and an in-process time limit cannot
interrupt such code at all. So each worker process starts this small process (spawned with
``subprocess``, never forked, before CUDA is initialised). Every few seconds it:

* says the worker is alive (``{p}:workers``) for as long as the worker process exists;
* fails a job of this worker that has run past ``MRIMESH_JOB_TIME_LIMIT_SECONDS``
  (:meth:`mrimesh.lifecycle.Lifecycle.time_out`, which deletes its files) and ends the worker with
  SIGKILL; the supervisor starts a new one.

It dies with the worker process (``PR_SET_PDEATHSIG``, :mod:`mrimesh.proc`), and the worker's
process guard (:mod:`gpu_worker.process_guard`) starts a new one if it dies first, so a killed
sidecar never makes a live worker look dead.

    python -m gpu_worker.sidecar --worker-id HOST:PID --worker-pid PID
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time

import redis

from mrimesh.config import Settings
from mrimesh.contract import JobStatus
from mrimesh.lifecycle import Lifecycle
from mrimesh.proc import die_with_parent
from mrimesh.redis_client import as_text, connect
from mrimesh.timefmt import now
from mrimesh.workers import WorkerRegistry

logger = logging.getLogger("mrimesh.sidecar")


def start_sidecar(worker_id: str) -> subprocess.Popen:
    """Spawn the sidecar for the calling worker process.

    No ``preexec_fn``: the worker may hold a CUDA context, so it must not fork; ``Popen`` without
    one spawns (``posix_spawn``/``vfork``). The sidecar arms its own death signal at start.
    """
    return subprocess.Popen(
        [sys.executable, "-m", "gpu_worker.sidecar", "--worker-id", worker_id,
         "--worker-pid", str(os.getpid())]
    )  # fmt: skip


def process_alive(pid: int) -> bool:
    """True while ``pid`` exists (and is not a zombie we could reap)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return True


class Sidecar:
    """One worker's heartbeat and time-limit enforcer."""

    def __init__(self, settings: Settings, client: redis.Redis, worker_id: str, worker_pid: int):
        self.settings = settings
        self.lifecycle = Lifecycle(client, settings)
        self.jobs = self.lifecycle.jobs
        self.workers = WorkerRegistry(client, settings)
        self.worker_id = worker_id
        self.worker_pid = worker_pid

    def tick(self, at: float | None = None) -> bool:
        """Beat and enforce the limit once; False when the worker is gone (or was ended)."""
        at = now() if at is None else at
        if not process_alive(self.worker_pid):
            return False
        self.workers.beat(self.worker_id, at)
        limit = self.settings.job_time_limit_seconds
        for job_id, started_at in self._my_running_jobs():
            if not self.lifecycle.heartbeat(job_id, at):  # finished or cancelled since listed
                continue
            if at - (started_at or at) > limit:
                self._end_for_timeout(job_id, limit)
                return False
        return True

    def _my_running_jobs(self) -> list[tuple[str, float | None]]:
        """``(job_id, started_at)`` of the processing jobs this sidecar's worker runs."""
        client, keys = self.jobs.client, self.jobs.keys
        ids = [as_text(i) for i in client.zrange(keys.active, 0, -1)]
        if not ids:
            return []
        pipe = client.pipeline(transaction=False)
        for job_id in ids:
            pipe.hmget(keys.job(job_id), "worker_id", "status", "started_at")
        mine = []
        for job_id, (worker, status, started) in zip(ids, pipe.execute(), strict=True):
            if worker is None or as_text(worker) != self.worker_id:
                continue
            if status is None or as_text(status) != JobStatus.PROCESSING.value:
                continue
            mine.append((job_id, float(as_text(started)) if started else None))
        return mine

    def _end_for_timeout(self, job_id: str, limit: int) -> None:
        if self.lifecycle.time_out(job_id) is None:  # it finished (or was cancelled) meanwhile
            return
        logger.error("job %s ran past %d s; ending worker %s", job_id, limit, self.worker_id)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.worker_pid, signal.SIGKILL)


def main(argv: list[str] | None = None) -> None:
    """Beat until the worker is gone."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--worker-id", required=True)
    parser.add_argument("--worker-pid", type=int, required=True)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    die_with_parent(args.worker_pid, signal.SIGTERM)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = Settings.from_env()
    sidecar = Sidecar(settings, connect(settings.redis_url), args.worker_id, args.worker_pid)
    while True:
        try:
            if not sidecar.tick():
                return
        except redis.exceptions.RedisError as e:
            logger.warning("Redis unavailable, will retry: %s", e)
        time.sleep(settings.worker_heartbeat_seconds)


if __name__ == "__main__":
    main()
