"""Ctrl-C on ``make run`` stops the whole service promptly and leaves no process behind.

The worker is a process Dramatiq spawned, with its own children (the sidecar and the meshing
helpers); a child that outlives it would keep CPU, memory and, on a GPU host, a CUDA context.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.support.redis_server import RedisServer
from tests.support.service import ServiceStack

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def descendants(pid: int) -> dict[int, str]:
    """Every process below ``pid`` (read from /proc), with its command line."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry.name))
    found: dict[int, str] = {}
    stack = list(children.get(pid, []))
    while stack:
        child = stack.pop()
        try:
            found[child] = (
                Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
            ).decode()
        except FileNotFoundError:
            continue
        stack.extend(children.get(child, []))
    return found


def running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_ctrl_c_stops_every_process_of_the_service_within_seconds(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis", persistent=True).start()
    stack = ServiceStack(
        redis_url=server.url, data_dir=tmp_path / "data", log_dir=tmp_path / "logs"
    )
    processes: dict[int, str] = {}
    try:
        # Given the service as `make run` starts it, with a worker ready for jobs
        stack.start_supervised()
        stack.wait_for_workers(1, timeout=180)
        serve = stack.processes["serve"]
        processes.update(descendants(serve.pid))
        helpers = [p for p, cmd in processes.items() if "spawn_main" in cmd]
        assert len(helpers) >= 2, processes  # the worker and its meshing helpers at least
        # When the operator presses Ctrl-C (SIGINT to the terminal's process group)
        started = time.monotonic()
        os.killpg(serve.pid, signal.SIGINT)
        serve.wait(30)
        # Then the supervisor is done within seconds, and nothing it started is still running
        assert time.monotonic() - started < 15, stack.log("serve")[-3000:]
        deadline = time.monotonic() + 5
        while any(running(p) for p in processes) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = {p: processes[p] for p in processes if running(p)}
        assert left == {}, stack.log("serve")[-3000:]
    finally:
        stack.stop_all()
        for pid in processes:  # whatever outlived the test must not outlive the suite
            if running(pid):
                os.kill(pid, signal.SIGKILL)
        server.stop()
