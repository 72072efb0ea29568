"""The process guard keeps one sidecar running beside the worker, and stops it at shutdown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from gpu_worker.process_guard import ProcessGuard


def _stand_in_sidecar(worker_id: str) -> subprocess.Popen:
    """A process standing in for the sidecar (the real one needs Redis and a worker)."""
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", worker_id])


def test_a_killed_sidecar_is_replaced_and_the_last_one_stops_with_the_worker() -> None:
    # Given a booted worker's guard and its sidecar
    guard = ProcessGuard(lambda: "host:1", start=_stand_in_sidecar, check_seconds=0.05)
    guard.after_process_boot(None)  # not a Dramatiq worker process: nothing to arm
    guard.after_worker_boot(None, None)
    first = guard.sidecar
    try:
        assert first is not None and first.poll() is None
        # When the sidecar is killed outright
        os.kill(first.pid, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while guard.sidecar is first and time.monotonic() < deadline:
            time.sleep(0.05)
        # Then a new one runs for the same worker, and the dead one was reaped (no zombie)
        second = guard.sidecar
        assert second is not None and second is not first and second.poll() is None
        assert second.args[-1] == "host:1"
        assert first.returncode == -signal.SIGKILL
        assert guard.sidecar_restarts == 1
        # When the worker shuts down
        guard.before_worker_shutdown(None, None)
        # Then its sidecar is stopped, and no new one is started
        assert second.poll() is not None
        time.sleep(0.3)
        assert guard.sidecar is None and guard.sidecar_restarts == 1
    finally:
        for process in (first, guard.sidecar):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
