"""Run the whole service locally: Redis (unless one is given), the API, one worker, the janitor.

``make run`` calls this after ``scripts/bootstrap.sh``. Processes that die are restarted (with a
short backoff), so a crashed worker costs one attempt, not the service. Ctrl-C stops everything
this script started, Redis last.
"""

from __future__ import annotations

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

from mrimesh.config import Settings  # noqa: E402

#: Port of the Redis that ``make run`` starts when ``MRIMESH_REDIS_URL`` is not set.
OWN_REDIS_PORT = 6390
#: Seconds to wait before restarting a process that died.
RESTART_BACKOFF_SECONDS = 2.0


@dataclass
class Supervised:
    """One child process and how to start it again."""

    name: str
    argv: list[str]
    restart: bool = True
    process: subprocess.Popen | None = None
    restarts: int = 0
    died_at: float | None = None
    env: dict[str, str] = field(default_factory=dict)

    def start(self) -> None:
        """Start (or restart) the process."""
        self.process = subprocess.Popen(self.argv, cwd=ROOT, env={**os.environ, **self.env})
        self.died_at = None
        print(f"serve: started {self.name} (pid {self.process.pid})", flush=True)


def redis_answers(url: str) -> bool:
    """True when a Redis server answers at ``url``."""
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.exceptions.RedisError:
        return False


def start_own_redis(data_dir: Path, port: int) -> subprocess.Popen:
    """A private redis-server with AOF (everysec) and RDB snapshots in the data directory."""
    redis_dir = data_dir / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        "redis-server",
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--dir",
        str(redis_dir),
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--save",
        "900 1 300 10 60 10000",
        "--logfile",
        str(redis_dir / "redis.log"),
    ]
    process = subprocess.Popen(argv)
    print(f"serve: started redis-server on port {port} (data in {redis_dir})", flush=True)
    return process


def main() -> int:
    """Start everything, supervise, and stop it all on Ctrl-C."""
    explicit_redis = bool(os.environ.get("MRIMESH_REDIS_URL"))
    if not explicit_redis:
        os.environ["MRIMESH_REDIS_URL"] = f"redis://127.0.0.1:{OWN_REDIS_PORT}/0"
    os.environ["MRIMESH_DATA_DIR"] = str(Settings.from_env().data_dir.resolve())
    settings = Settings.from_env()  # every path absolute from here on
    settings.data_dir.mkdir(parents=True, exist_ok=True)

    redis_process = None
    if not redis_answers(settings.redis_url):
        if explicit_redis:
            print(f"serve: no Redis answers at {settings.redis_url}", file=sys.stderr)
            return 1
        port = urlparse(settings.redis_url).port or OWN_REDIS_PORT
        redis_process = start_own_redis(settings.data_dir, port)
        for _ in range(50):
            if redis_answers(settings.redis_url):
                break
            time.sleep(0.1)
        else:
            print("serve: redis-server did not start; see its log", file=sys.stderr)
            redis_process.terminate()
            return 1

    python = sys.executable
    children = [
        Supervised(
            "api", [python, "-m", "gunicorn", "--config", "api/gunicorn_conf.py", "api.wsgi:app"]
        ),
        Supervised("worker", [python, "-m", "gpu_worker.worker"]),
        Supervised("janitor", [python, "-m", "gpu_worker.janitor"]),
    ]
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for child in children:
        child.start()
    print(
        f"serve: mrimesh is at http://{settings.bind_host}:{settings.port}/ (Ctrl-C stops)",
        flush=True,
    )
    try:
        while not stopping:
            time.sleep(0.5)
            for child in children:
                if child.process is None or child.process.poll() is None:
                    continue
                if child.died_at is None:
                    child.died_at = time.monotonic()
                    print(
                        f"serve: {child.name} exited with {child.process.returncode}; restarting",
                        flush=True,
                    )
                if time.monotonic() - child.died_at >= RESTART_BACKOFF_SECONDS:
                    child.restarts += 1
                    child.start()
    finally:
        for child in children:
            if child.process is not None and child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 25
        for child in children:
            if child.process is None:
                continue
            try:
                child.process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                child.process.kill()
        if redis_process is not None:
            redis_process.terminate()
            redis_process.wait(10)
        print("serve: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
