"""Kill drill: ``kill -9`` each process of the service mid-job; the job still completes once.

The service runs as ``make run`` runs it: ``scripts/serve.py`` with its own Redis (on a free
port), gunicorn, one Dramatiq worker with its sidecar and two meshing helpers, and the janitor.
For each process, a real scan is uploaded, the process is killed with SIGKILL while the job runs,
and then:

* the job completes exactly once (one more timing record, ``completed_jobs`` up by one);
* no process outlives its parent by more than a few seconds, and there is never a second
  Dramatiq consumer (the reported bug: a worker process orphaned by its dead Dramatiq parent
  kept consuming beside the one the supervisor restarted);
* the tree heals: every role is back, in the right place.

Last, Ctrl-C (SIGINT to serve.py's process group, as a terminal sends it) mid-job leaves nothing
that serve.py started, Redis included. One service is shared by the drills (a worker takes tens of
seconds to boot on a small machine); each drill starts from a healthy tree.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from mrimesh.keys import Keys
from tests.support.data import downsampled_brain
from tests.support.process_tree import Proc, kill_all, orphans, shape_problems, snapshot, table
from tests.support.redis_server import free_port
from tests.support.service import ServiceStack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: Gunicorn workers and meshing helpers the drilled service runs.
API_WORKERS = 2
MESH_PROCESSES = 2
#: Longest a process may outlive its parent, in seconds ("a few seconds").
ORPHAN_LIMIT_SECONDS = 5.0
#: Bounds of the waits (generous: a loaded two-core machine boots a worker in about a minute).
BOOT_SECONDS = 240
JOB_SECONDS = 400
STOP_SECONDS = 30
#: Longest Redis may take to save and stop after serve.py is killed, in seconds.
REDIS_STOP_SECONDS = 10.0

MARKER_NAME = "MRIMESH_KILL_DRILL"
#: What each drill's job reached when it was killed, and how long things took (for the report).
FIGURES: dict[str, dict[str, float | str]] = {}


@dataclass
class Drilled:
    """The service under drill: its stack, its Redis and the marker its processes carry."""

    stack: ServiceStack
    client: redis.Redis
    marker: str
    scan: Path

    @property
    def serve_pid(self) -> int:
        return self.stack.processes["serve"].pid

    def tree(self) -> dict[int, Proc]:
        return snapshot(self.serve_pid, self.marker)

    def counters(self) -> tuple[int, int]:
        keys = Keys()
        completed = int(self.client.hget(keys.stats, "completed_jobs") or 0)
        return completed, int(self.client.llen(keys.timings_jobs))

    def log(self, chars: int = 6000) -> str:
        """The end of serve.py's log (all the service's processes), without request lines."""
        lines = self.stack.log("serve").splitlines()
        kept = [line for line in lines if '"GET /' not in line and '"POST /' not in line]
        return "\n".join(kept)[-chars:]

    def wait_healthy(self, timeout: float = BOOT_SECONDS) -> None:
        """Until every role is back where it belongs and the worker takes jobs."""
        seen: dict[str, object] = {}

        def healthy() -> bool:
            procs = self.tree()
            seen["tree"], seen["problems"] = (
                procs,
                shape_problems(procs, API_WORKERS, MESH_PROCESSES),
            )
            return not seen["problems"] and self.stack.get("stats").json()["live_workers"] >= 1

        try:
            self.stack.wait_until(healthy, timeout, "a healthy process tree")
        except AssertionError as e:
            raise AssertionError(
                f"{seen.get('problems')}\n{table(seen.get('tree', {}))}\n{self.log()}"
            ) from e


def _stack(root: Path, marker: str) -> ServiceStack:
    """The service as ``make run`` starts it, owning its Redis on a free port."""
    return ServiceStack(
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
        data_dir=root / "data",
        log_dir=root / "logs",
        serve_owns_redis=True,
        extra_env={
            MARKER_NAME: marker.split("=", 1)[1],
            "MRIMESH_API_WORKERS": str(API_WORKERS),
            "MRIMESH_MESH_PROCESSES": str(MESH_PROCESSES),
            "MRIMESH_WORKER_HEARTBEAT_SECONDS": "1",
            "MRIMESH_WORKER_TIMEOUT_SECONDS": "8",
            "MRIMESH_JANITOR_INTERVAL_SECONDS": "1",
            "MRIMESH_DEVICE": "cpu",
        },
    )


@contextlib.contextmanager
def _running_service(root: Path) -> Iterator[Drilled]:
    """Start the service, wait for a healthy tree; afterwards leave no process of it behind."""
    marker = f"{MARKER_NAME}={uuid.uuid4().hex}"
    stack = _stack(root, marker)
    scan = downsampled_brain(root / "brain.nii.gz", step=2)
    try:
        stack.start_supervised()
        client = redis.Redis.from_url(stack.redis_url, socket_timeout=10)
        service = Drilled(stack, client, marker, scan)
        service.wait_healthy()
        yield service
    finally:
        serve = stack.processes.get("serve")
        left = snapshot(serve.pid, marker) if serve is not None else {}
        stack.stop("serve", signal.SIGINT, timeout=STOP_SECONDS)
        kill_all(left)  # whatever a failed drill left must not outlive the test run


@pytest.fixture(scope="module", autouse=True)
def _report_figures() -> Iterator[None]:
    """Print what each drill measured (``pytest -s`` shows it)."""
    yield
    for name, figures in FIGURES.items():
        print(f"kill drill {name}: {figures}")


@pytest.fixture(scope="module")
def drilled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Drilled]:
    with _running_service(tmp_path_factory.mktemp("drill")) as service:
        yield service


def _status(service: Drilled, job_id: str) -> dict:
    return service.stack.get(f"status/{job_id}").json()


def _step_is(status: dict, step_id: str, label: str) -> bool:
    return status.get("current_step_id") == step_id or status.get("current_step") == label


def _wait_running(service: Drilled, job_id: str, step: tuple[str, str] | None) -> dict:
    """Until the job runs (in ``step``, as ``(id, label)``, when given)."""
    seen: dict = {}

    def running() -> bool:
        seen.update(_status(service, job_id))
        if seen["status"] != "processing":
            assert seen["status"] == "queued", seen
            return False
        return step is None or _step_is(seen, *step)

    service.stack.wait_until(running, JOB_SECONDS, f"job {job_id} to run {step}", interval=0.05)
    return dict(seen)


def _descendants(procs: dict[int, Proc], pid: int) -> set[int]:
    found, stack = set(), [pid]
    while stack:
        parent = stack.pop()
        for p in procs.values():
            if p.ppid == parent and p.pid not in found:
                found.add(p.pid)
                stack.append(p.pid)
    return found


def _consumers(procs: dict[int, Proc], helpers: set[int]) -> int:
    """Dramatiq worker processes alive, wherever they hang (an orphaned one included).

    ``helpers`` are the meshing helpers seen before the kill: once their worker is dead they hang
    under serve.py for the moment before they exit, where their command line looks like a worker's;
    they never consume messages (the orphan rule judges them).
    """
    return sum(
        1
        for p in procs.values()
        if "spawn_main" in p.cmd
        and p.role != "helper"
        and p.pid not in helpers
        and "resource_tracker" not in p.cmd
    )


def drill(service: Drilled, name: str, target: Callable[[dict[int, Proc]], Proc],
          step: tuple[str, str] | None = None, *, same_attempt: bool = False) -> None:  # fmt: skip
    """Kill ``target``'s process mid-job and check the job, the orphans and the tree."""
    service.wait_healthy()
    completed, timings = service.counters()
    # Given a job running on the healthy service
    response = service.stack.upload(service.scan)
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    before = _wait_running(service, job_id, step)
    procs = service.tree()
    victim = target(procs)
    below = _descendants(procs, victim.pid)
    helpers = {p.pid for p in procs.values() if p.role == "helper"}
    # When the process is killed outright
    os.kill(victim.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    # Then whatever ran below it is gone within seconds, and no second consumer ever appears
    most_consumers, orphans_gone = 0, None
    done: dict = {}
    deadline = killed_at + JOB_SECONDS
    while time.monotonic() < deadline:
        now = service.tree()
        most_consumers = max(most_consumers, _consumers(now, helpers))
        if orphans_gone is None and not (below & now.keys()) and not orphans(now):
            orphans_gone = time.monotonic() - killed_at
        if orphans_gone is None and time.monotonic() - killed_at > ORPHAN_LIMIT_SECONDS:
            pytest.fail(
                f"{name}: processes outlived their parent by {ORPHAN_LIMIT_SECONDS} s:\n"
                f"{[str(now[p]) for p in below & now.keys()]} {[str(o) for o in orphans(now)]}\n"
                f"{table(now)}\n{service.log()}"
            )
        try:
            done = _status(service, job_id)
        except Exception:  # the API itself may be the process just killed
            done = {}
        if orphans_gone is not None and done.get("status") in ("completed", "failed"):
            break
        time.sleep(0.2)
    completed_after = time.monotonic() - killed_at
    assert done.get("status") == "completed", f"{name}: {done}\n{service.log()}"
    assert most_consumers <= 1, f"{name}: {most_consumers} Dramatiq worker processes at once"
    # and it completed exactly once
    assert service.counters() == (completed + 1, timings + 1)
    if same_attempt:  # a process the job does not run in: the job was never interrupted
        assert done["attempt"] == before["attempt"], done
    # and the tree heals: every role back in its place, nothing left over
    service.wait_healthy()
    assert service.counters() == (completed + 1, timings + 1)
    FIGURES[name] = {
        "killed_in": before.get("current_step") or "?",
        "job_completed_s": round(completed_after, 1),
        "orphans_gone_s": round(orphans_gone or 0.0, 1),
        "descendants_killed": len(below),
        "attempts": done["attempt"],
    }


def _one(procs: dict[int, Proc], role: str) -> Proc:
    found = [p for p in procs.values() if p.role == role]
    assert found, f"no {role} process:\n{table(procs)}"
    return found[0]


MESHING = ("meshing", "Generating meshes")
SEGMENTING = ("segmenting", "Segmenting")


def test_a_gunicorn_worker(drilled: Drilled) -> None:
    drill(drilled, "gunicorn worker", lambda p: _one(p, "api-worker"), same_attempt=True)


def test_the_gunicorn_master(drilled: Drilled) -> None:
    drill(drilled, "gunicorn master", lambda p: _one(p, "api-master"), same_attempt=True)


def test_the_janitor(drilled: Drilled) -> None:
    drill(drilled, "janitor", lambda p: _one(p, "janitor"), same_attempt=True)


def test_the_sidecar(drilled: Drilled) -> None:
    # A killed sidecar is replaced by the worker before the janitor could think it dead.
    drill(drilled, "sidecar", lambda p: _one(p, "sidecar"), same_attempt=True)


def test_a_meshing_helper(drilled: Drilled) -> None:
    drill(drilled, "meshing helper", lambda p: _one(p, "helper"), MESHING)


def test_the_worker_process(drilled: Drilled) -> None:
    drill(drilled, "worker process", lambda p: _one(p, "worker"), SEGMENTING)


def test_the_dramatiq_parent(drilled: Drilled) -> None:
    drill(drilled, "dramatiq parent", lambda p: _one(p, "dramatiq"), SEGMENTING)


def test_ctrl_c_mid_job_leaves_nothing_behind(drilled: Drilled) -> None:
    drilled.wait_healthy()
    # Given a job running
    job_id = drilled.stack.upload(drilled.scan).json()["job_id"]
    _wait_running(drilled, job_id, SEGMENTING)
    serve = drilled.stack.processes["serve"]
    started = drilled.tree()
    assert _one(started, "redis")
    # When the operator presses Ctrl-C (the terminal signals serve.py's process group)
    pressed = time.monotonic()
    os.killpg(serve.pid, signal.SIGINT)
    serve.wait(STOP_SECONDS)
    stopped = time.monotonic() - pressed
    # Then nothing serve.py started is left: not the worker, its helpers, nor Redis
    deadline = time.monotonic() + ORPHAN_LIMIT_SECONDS
    while (left := snapshot(serve.pid, drilled.marker)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert left == {}, table(left)
    assert "serve: stopped" in drilled.stack.log("serve")
    FIGURES["ctrl-c mid-job"] = {"stopped_s": round(stopped, 1), "processes": len(started)}


def test_killing_serve_itself_leaves_nothing_behind(tmp_path: Path) -> None:
    with _running_service(tmp_path) as service:
        # Given the whole tree running
        serve = service.stack.processes["serve"]
        started = service.tree()
        # When the supervisor itself is killed outright
        os.kill(serve.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        serve.wait(STOP_SECONDS)
        # Then every process it started follows within seconds (Redis, which saves its data
        # first, within its stop time)
        gone_after: dict[str, float] = {}
        deadline = killed_at + REDIS_STOP_SECONDS
        while time.monotonic() < deadline:
            left = snapshot(serve.pid, service.marker)
            for p in started.values():
                if p.role not in {q.role for q in left.values()}:
                    gone_after.setdefault(p.role, time.monotonic() - killed_at)
            if not left:
                break
            time.sleep(0.1)
        assert left == {}, table(left)
        late = {r: s for r, s in gone_after.items() if r != "redis" and s > ORPHAN_LIMIT_SECONDS}
        assert late == {}, gone_after
        FIGURES["serve.py"] = {r: round(s, 1) for r, s in sorted(gone_after.items())}
