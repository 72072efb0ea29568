"""Run the whole service locally: Redis (unless one is given), the API, one worker, the janitor.

``make run`` calls this after ``scripts/bootstrap.sh``. The processes form one tree with this
script at the top, and none of them outlives its parent:

* each child runs in its own process group and is told by the kernel to stop when this script
  dies (``PR_SET_PDEATHSIG``, set before ``exec``: this script never loads CUDA, so forking it
  is safe); their own children do the same at start (:mod:`mrimesh.proc`);
* a child that dies is restarted after a short backoff, and whatever is left of its group is
  killed first, so a crashed worker costs one attempt, never a second consumer;
* this script is the sub-reaper of its tree: a process whose parent died is re-parented here,
  and killed and reaped at once;
* Ctrl-C (or SIGTERM) stops the API, the worker and the janitor, waits a few seconds, kills what
  is left of their groups, and stops Redis last.
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mrimesh import proc  # noqa: E402
from mrimesh.config import Settings  # noqa: E402

#: Seconds to wait before restarting a process that died.
RESTART_BACKOFF_SECONDS = 2.0
#: Seconds the children get to stop by themselves after Ctrl-C before they are killed.
STOP_GRACE_SECONDS = 10.0
#: Seconds Redis gets to save and stop after everything else has stopped.
REDIS_STOP_SECONDS = 10.0
#: Seconds between two looks at the children.
POLL_SECONDS = 0.25


def _child_setup(parent_pid: int, death_signal: int) -> None:
    """Runs in the child between fork and exec: own process group, die with this script."""
    os.setpgid(0, 0)
    proc.die_with_parent(parent_pid, death_signal)


@dataclass
class Supervised:
    """One child process, how to start it again, and how to stop it."""

    name: str
    argv: list[str]
    #: What asks it to stop (Ctrl-C).
    stop_signal: int = signal.SIGTERM
    #: What the kernel sends it when this script dies. Nothing would then bound a graceful stop
    #: (Dramatiq's waits for the running job), so it is SIGKILL, and the children's own death
    #: signals follow; only Redis gets SIGTERM, to save its data.
    death_signal: int = signal.SIGKILL
    process: subprocess.Popen | None = None
    restarts: int = 0
    died_at: float | None = None
    env: dict[str, str] = field(default_factory=dict)

    def start(self) -> None:
        """Start (or restart) the process, in a process group of its own."""
        self.process = subprocess.Popen(
            self.argv,
            cwd=ROOT,
            env={**os.environ, **self.env},
            preexec_fn=functools.partial(_child_setup, os.getpid(), self.death_signal),
        )
        self.died_at = None
        print(f"serve: started {self.name} (pid {self.process.pid})", flush=True)

    @property
    def pid(self) -> int | None:
        """Pid of the current process (also its process group id), if started."""
        return None if self.process is None else self.process.pid

    def running(self) -> bool:
        """True while the process itself runs (its exit status is collected here)."""
        return self.process is not None and self.process.poll() is None

    def group_alive(self) -> bool:
        """True while the process or anything left in its group exists."""
        return self.pid is not None and (self.running() or proc.group_alive(self.pid))

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the process itself (it stops its own children)."""
        if self.running():
            proc.kill_quietly(self.pid, sig)

    def kill_group(self) -> None:
        """SIGKILL the process and everything left in its group."""
        if self.pid is not None:
            proc.kill_group(self.pid, signal.SIGKILL)
            self.running()  # collect the exit status


def reap_orphans(known: list[Supervised]) -> None:
    """Kill and reap processes re-parented to this script (their own parent died)."""
    ours = {child.pid for child in known}
    for pid in proc.children_of(os.getpid()):
        if pid in ours:
            continue
        if proc.is_running(pid):
            print(f"serve: killing orphan {pid} ({proc.command_line(pid)[:80]})", flush=True)
            proc.kill_quietly(pid, signal.SIGKILL)
        proc.reap(pid)


def redis_answers(url: str) -> bool:
    """True when a Redis server answers at ``url``."""
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.exceptions.RedisError:
        return False


def own_redis(data_dir: Path, port: int) -> Supervised:
    """A private redis-server with AOF (everysec) and RDB snapshots in the data directory."""
    redis_dir = data_dir / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        "redis-server",
        "--bind", "127.0.0.1",
        "--port", str(port),
        "--dir", str(redis_dir),
        "--appendonly", "yes",
        "--appendfsync", "everysec",
        "--save", "900 1 300 10 60 10000",
        "--logfile", str(redis_dir / "redis.log"),
    ]  # fmt: skip
    name = f"redis-server on port {port} (data in {redis_dir})"
    return Supervised(name, argv, death_signal=signal.SIGTERM)


def stop_all(children: list[Supervised], redis_server: Supervised | None) -> None:
    """Ask every child to stop, kill what is left after the grace, then stop Redis last."""
    for child in children:
        child.signal(child.stop_signal)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    while any(c.group_alive() for c in children) and time.monotonic() < deadline:
        reap_orphans([*children, *([redis_server] if redis_server else [])])
        time.sleep(0.1)
    for child in children:
        if child.group_alive():
            print(f"serve: {child.name} did not stop in time; killing it", flush=True)
            child.kill_group()
    if redis_server is not None:
        redis_server.signal(redis_server.stop_signal)
        deadline = time.monotonic() + REDIS_STOP_SECONDS
        while redis_server.running() and time.monotonic() < deadline:
            time.sleep(0.1)
        redis_server.kill_group()
    # Nothing started here may be left: kill and reap whatever is still below this script.
    deadline = time.monotonic() + 5
    while proc.children_of(os.getpid()) and time.monotonic() < deadline:
        reap_orphans([])
        time.sleep(0.1)


def main() -> int:
    """Start everything, supervise, and stop it all on Ctrl-C."""
    proc.become_subreaper()
    explicit_redis = bool(os.environ.get("MRIMESH_REDIS_URL"))
    if not explicit_redis:
        port = Settings.from_env().serve_redis_port
        os.environ["MRIMESH_REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
    os.environ["MRIMESH_DATA_DIR"] = str(Settings.from_env().data_dir.resolve())
    settings = Settings.from_env()  # every path absolute from here on
    settings.data_dir.mkdir(parents=True, exist_ok=True)

    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    redis_server = None
    if not redis_answers(settings.redis_url):
        if explicit_redis:
            print(f"serve: no Redis answers at {settings.redis_url}", file=sys.stderr)
            return 1
        port = urlparse(settings.redis_url).port or settings.serve_redis_port
        redis_server = own_redis(settings.data_dir, port)
        redis_server.start()
        deadline = time.monotonic() + 10
        while not redis_answers(settings.redis_url):
            if time.monotonic() > deadline or not redis_server.running():
                print("serve: redis-server did not start; see its log", file=sys.stderr)
                stop_all([], redis_server)
                return 1
            time.sleep(0.1)

    python = sys.executable
    children = [
        # SIGINT is gunicorn's quick shutdown, as Ctrl-C on gunicorn itself would be.
        Supervised(
            "api",
            [python, "-m", "gunicorn", "--config", "api/gunicorn_conf.py", "api.wsgi:app"],
            stop_signal=signal.SIGINT,
        ),
        Supervised("worker", [python, "-m", "gpu_worker.worker"]),
        Supervised("janitor", [python, "-m", "gpu_worker.janitor"]),
    ]
    supervised = [*children, *([redis_server] if redis_server else [])]
    for child in children:
        child.start()
    print(
        f"serve: mrimesh is at http://{settings.bind_host}:{settings.port}/ (Ctrl-C stops)",
        flush=True,
    )
    try:
        while not stopping:
            time.sleep(POLL_SECONDS)
            reap_orphans(supervised)
            for child in supervised:
                if stopping or child.process is None or child.running():
                    continue
                if child.died_at is None:
                    child.died_at = time.monotonic()
                    child.kill_group()  # what it leaves behind must not serve a second time
                    print(
                        f"serve: {child.name} exited with {child.process.returncode}; restarting",
                        flush=True,
                    )
                if time.monotonic() - child.died_at >= RESTART_BACKOFF_SECONDS:
                    child.restarts += 1
                    child.start()
    finally:
        stop_all(children, redis_server)
        print("serve: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
