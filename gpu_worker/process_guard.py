"""The worker process's place in the process tree: it dies with Dramatiq, and keeps its sidecar.

Dramatiq's parent process spawns the worker process. Hooks, in the order a worker meets them:

* ``after_process_boot``: ask the kernel to SIGKILL this process the moment its Dramatiq parent
  is gone (``kill -9`` of the parent included). An orphaned worker would go on consuming beside
  the one the supervisor starts next: two workers on one device. Its job is recovered by the
  janitor and finished by the new worker; its sidecar and meshing helpers die with it.
* ``after_worker_boot``: start the sidecar (heartbeats, per-job time limit) and a watcher thread
  that starts a new one if it dies, before the janitor could mistake a live worker for a dead
  one.
* ``before_worker_shutdown``: stop the watcher, then the sidecar.

No ``preexec_fn`` anywhere here: the worker may hold a CUDA context and must never fork.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import subprocess
import threading
from collections.abc import Callable

from dramatiq import Broker, Middleware, Worker

from gpu_worker.sidecar import start_sidecar
from mrimesh.proc import die_with_parent

logger = logging.getLogger(__name__)

#: How often the watcher looks at the sidecar, in seconds.
SIDECAR_CHECK_SECONDS = 0.5
#: Seconds the sidecar gets to stop when the worker shuts down.
SIDECAR_STOP_SECONDS = 10.0


class ProcessGuard(Middleware):
    """Ties the worker process to its parent and its sidecar to the worker process."""

    def __init__(
        self,
        worker_id: Callable[[], str],
        *,
        start: Callable[[str], subprocess.Popen] = start_sidecar,
        check_seconds: float = SIDECAR_CHECK_SECONDS,
    ):
        self.worker_id = worker_id
        self.start = start
        self.check_seconds = check_seconds
        self.sidecar: subprocess.Popen | None = None
        self.sidecar_restarts = 0
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    def after_process_boot(self, broker: Broker) -> None:
        """Die with the Dramatiq parent process that spawned this one."""
        parent = multiprocessing.parent_process()
        if parent is not None and parent.pid is not None:
            die_with_parent(parent.pid, signal.SIGKILL)

    def after_worker_boot(self, broker: Broker, worker: Worker) -> None:
        """Start the sidecar, and the thread that keeps one running."""
        self.sidecar = self.start(self.worker_id())
        self._stop.clear()
        # The watcher starts every later sidecar: it lives as long as this process, which the
        # sidecar's death signal (tied to the thread that started it) needs.
        self._watcher = threading.Thread(target=self._watch, name="sidecar-watcher", daemon=True)
        self._watcher.start()

    def before_worker_shutdown(self, broker: Broker, worker: Worker) -> None:
        """Stop watching, then stop the sidecar."""
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(self.check_seconds * 4)
            self._watcher = None
        sidecar, self.sidecar = self.sidecar, None
        if sidecar is not None and sidecar.poll() is None:
            sidecar.terminate()
            try:
                sidecar.wait(SIDECAR_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                sidecar.kill()
                sidecar.wait()

    def _watch(self) -> None:
        while not self._stop.wait(self.check_seconds):
            sidecar = self.sidecar
            if sidecar is None or sidecar.poll() is None:
                continue
            if self._stop.is_set():
                return
            logger.warning("sidecar %d exited with %s; starting a new one", sidecar.pid,
                           sidecar.returncode)  # fmt: skip
            try:
                self.sidecar = self.start(self.worker_id())
                self.sidecar_restarts += 1
            except OSError:
                logger.exception("could not start a new sidecar; will retry")
