"""The janitor: expires old jobs, recovers jobs of dead workers, sweeps stray files.

What happens to each job is :mod:`mrimesh.lifecycle`'s (``expire``, ``worker_lost``,
``clean_up``); the janitor only finds the jobs it is due for.

Runs as its own small process (``python -m gpu_worker.janitor``), started by ``make run`` and by
compose. It imports no torch; several janitors may run at once (every change is a guarded
transition).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time

import redis
from dramatiq.brokers.redis import RedisBroker

from mrimesh.config import Settings
from mrimesh.contract import JobStatus
from mrimesh.lifecycle import Lifecycle
from mrimesh.redis_client import connect
from mrimesh.storage import StorageConfigError, StorageError
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
        broker = RedisBroker(client=client, namespace=settings.dramatiq_namespace, middleware=[])
        self.lifecycle = Lifecycle(client, settings, broker=broker)
        self.jobs = self.lifecycle.jobs
        self.workers = WorkerRegistry(client, settings)

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
        """Expire jobs past their time (their files go with them)."""
        return sum(
            self.lifecycle.expire(job_id, at) is not None for job_id in self.jobs.due_for_expiry(at)
        )

    def recover_stalled(self, at: float) -> int:
        """Retry (or fail, after too many attempts) jobs whose worker stopped beating."""
        live = set(self.workers.live_ids(at))
        cutoff = at - self.settings.worker_timeout_seconds
        count = 0
        for job_id in self.jobs.active_ids():
            record = self.jobs.get(job_id)
            if record is None or record.status is not JobStatus.PROCESSING:
                self.lifecycle.forget_inactive(job_id)
                continue
            beat = record.heartbeat_at or record.started_at or 0.0
            if record.worker_id in live or beat > cutoff:
                continue
            after = self.lifecycle.worker_lost(job_id, at)
            if after is not None:
                count += 1
                logger.warning("job %s is %s after its worker stopped", job_id, after.status)
        return count

    def sweep_files(self, at: float) -> int:
        """Clean up job folders nobody can download (no record, or failed, cancelled, expired)
        and stale partial uploads (temporary files, and parts in the store of an API that died
        mid-upload)."""
        count = 0
        # A job's objects are written a moment before its record (the upload is stored first).
        for job_id, written_at in self.lifecycle.storage.stored_jobs().items():
            if at - written_at >= 60:
                count += self.lifecycle.clean_up(job_id)
        tmp_dir = self.settings.data_dir / "tmp"
        if tmp_dir.is_dir():
            for part in tmp_dir.iterdir():
                if at - part.stat().st_mtime > STALE_UPLOAD_SECONDS:
                    part.unlink(missing_ok=True)
                    count += 1
        try:
            count += self.lifecycle.storage.abort_stale_puts(at - STALE_UPLOAD_SECONDS)
        except StorageError as e:  # a store without the listing: its lifecycle rule does this
            logger.warning("could not look for unfinished uploads: %s", e)
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
    try:
        janitor.lifecycle.storage.check()  # wrong credentials: say so now, not at the first expiry
    except StorageConfigError as e:
        sys.exit(f"mrimesh janitor: {e}")
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
        except StorageError as e:
            logger.warning("file store unavailable, will retry: %s", e)
        if args.once:
            return
        stop.wait(max(interval - (time.monotonic() - started), 0.5))


if __name__ == "__main__":
    main()
