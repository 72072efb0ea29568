"""The janitor: expires old jobs, recovers jobs of dead workers, sweeps stray files.

Runs as its own small process (``python -m gpu_worker.janitor``), started by ``make run`` and by
compose. It imports no torch; several janitors may run at once (every change is a guarded
transition).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import signal
import threading
import time

import redis
from dramatiq.brokers.redis import RedisBroker

from mrimesh.config import Settings
from mrimesh.contract import JobStatus
from mrimesh.enqueue import enqueue_job
from mrimesh.jobs import JobStore
from mrimesh.paths import JobPaths, is_job_id
from mrimesh.redis_client import as_text, connect
from mrimesh.timefmt import now
from mrimesh.workers import WorkerRegistry

logger = logging.getLogger("mrimesh.janitor")

#: Partial uploads older than this (s) are deleted.
STALE_UPLOAD_SECONDS = 3600


class Janitor:
    """One sweep at a time over expiry, stalled jobs and stray files."""

    def __init__(self, settings: Settings, client: redis.Redis):
        self.settings = settings
        self.client = client
        self.jobs = JobStore(client, settings)
        self.workers = WorkerRegistry(client, settings)
        self.broker = RedisBroker(
            client=client, namespace=settings.dramatiq_namespace, middleware=[]
        )

    def sweep(self, at: float | None = None) -> dict[str, int]:
        """Run every chore once; returns how many items each touched."""
        at = now() if at is None else at
        return {
            "expired": self.expire_due(at),
            "recovered": self.recover_stalled(at),
            "swept": self.sweep_files(at),
            "workers_pruned": self.workers.prune(at),
        }

    def expire_due(self, at: float) -> int:
        """Expire jobs past their time and delete their files."""
        count = 0
        for job_id in self.jobs.due_for_expiry(at):
            if self.jobs.mark_expired(job_id, at) is not None:
                count += 1
            else:
                self.client.zrem(self.jobs.keys.expiry, job_id)
            if is_job_id(job_id):
                JobPaths(self.settings.jobs_dir, job_id).remove()
        return count

    def recover_stalled(self, at: float) -> int:
        """Requeue (or fail, after too many attempts) jobs whose worker stopped beating."""
        live = set(self.workers.live_ids(at))
        cutoff = at - self.settings.worker_timeout_seconds
        count = 0
        for raw_id in self.client.zrange(self.jobs.keys.active, 0, -1):
            job_id = as_text(raw_id)
            record = self.jobs.get(job_id)
            if record is None or record.status is not JobStatus.PROCESSING:
                self.client.zrem(self.jobs.keys.active, job_id)
                continue
            beat = record.heartbeat_at or record.started_at or 0.0
            if record.worker_id in live or beat > cutoff:
                continue
            count += 1
            if record.attempt >= self.settings.max_attempts:
                self.jobs.mark_failed(
                    job_id,
                    error=(
                        f"The worker crashed {record.attempt} times while processing this scan; "
                        "it was stopped to protect the service."
                    ),
                    code="worker_crashed",
                )
                JobPaths(self.settings.jobs_dir, job_id).remove()
                logger.warning("job %s failed after %d crashed attempts", job_id, record.attempt)
            elif self.jobs.mark_retrying(
                job_id, reason=f"The worker stopped unexpectedly during attempt {record.attempt}."
            ):
                enqueue_job(self.broker, job_id)
                logger.warning("job %s requeued after its worker stopped", job_id)
        return count

    def sweep_files(self, at: float) -> int:
        """Delete job folders with no record and stale partial uploads."""
        count = 0
        jobs_dir = self.settings.jobs_dir
        if jobs_dir.is_dir():
            for folder in jobs_dir.iterdir():
                if not is_job_id(folder.name) or at - folder.stat().st_mtime < 60:
                    continue
                record = self.jobs.get(folder.name)
                if record is None or record.status in (
                    JobStatus.EXPIRED,
                    JobStatus.FAILED,
                    JobStatus.CANCELLED,
                ):
                    shutil.rmtree(folder, ignore_errors=True)
                    count += 1
        tmp_dir = self.settings.data_dir / "tmp"
        if tmp_dir.is_dir():
            for part in tmp_dir.iterdir():
                if at - part.stat().st_mtime > STALE_UPLOAD_SECONDS:
                    part.unlink(missing_ok=True)
                    count += 1
        return count


def main(argv: list[str] | None = None) -> None:
    """Sweep forever (or once with ``--once``)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--once", action="store_true", help="run one sweep and exit")
    parser.add_argument("--interval", type=float, help="seconds between sweeps")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = Settings.from_env()
    interval = args.interval or settings.janitor_interval_seconds
    janitor = Janitor(settings, connect(settings.redis_url))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.is_set():
        started = time.monotonic()
        try:
            done = janitor.sweep()
            if any(done.values()):
                logger.info("sweep: %s", done)
        except redis.exceptions.RedisError as e:
            logger.warning("Redis unavailable, will retry: %s", e)
        if args.once:
            return
        stop.wait(max(interval - (time.monotonic() - started), 0.5))


if __name__ == "__main__":
    main()
