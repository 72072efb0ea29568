"""Start one Dramatiq worker: one process, one thread (one GPU), prefetch 1.

``python -m gpu_worker.worker`` replaces itself with the ``dramatiq`` command line, so signals reach
Dramatiq directly. Worker processes are spawned, not forked, so no process ever forks after CUDA
has been initialised.
"""

from __future__ import annotations

import os
import sys

from mrimesh.config import Settings
from mrimesh.contract import QUEUE_NAME
from mrimesh.storage import StorageConfigError, open_storage

#: Longest pause (ms) of the worker's message fetch loop; 10 cheap Redis polls a second at most.
CONSUMER_POLL_MS = 100


def command() -> list[str]:
    """The dramatiq command line this worker runs."""
    return [
        sys.executable,
        "-m",
        "dramatiq",
        "gpu_worker.actors",
        "--processes",
        "1",
        "--threads",
        "1",
        "--queues",
        QUEUE_NAME,
        "--use-spawn",
    ]


def check_storage(settings: Settings) -> None:
    """Stop with a clear message when the file store's settings are wrong (not at the first job)."""
    try:
        open_storage(settings).check()
    except StorageConfigError as e:
        sys.exit(f"mrimesh worker: {e}")


def main() -> None:
    """Check the file store, then exec the worker with prefetch set to one message."""
    check_storage(Settings.from_env())
    # Dramatiq reads these lower-case names.
    os.environ["dramatiq_queue_prefetch"] = "1"  # noqa: SIM112
    os.environ["dramatiq_delay_queue_prefetch"] = "1"  # noqa: SIM112
    # With prefetch 1 the consumer backs off up to this long (ms) while a job runs, so it is
    # also the worst idle gap before the next waiting job starts (Dramatiq's default: 1000).
    os.environ["dramatiq_worker_timeout"] = str(CONSUMER_POLL_MS)  # noqa: SIM112
    argv = command()
    os.execv(argv[0], argv)


if __name__ == "__main__":
    main()
