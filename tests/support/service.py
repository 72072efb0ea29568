"""The real service as separate processes: gunicorn API, a Dramatiq worker and the janitor."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import requests

from tests.support.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class ServiceStack:
    """Starts and stops the service's processes against one Redis and one data folder."""

    redis_url: str
    data_dir: Path
    log_dir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    #: ``scripts/serve.py`` starts, owns and stops the Redis at ``redis_url`` (as ``make run``
    #: does without ``MRIMESH_REDIS_URL``) instead of using one the test started.
    serve_owns_redis: bool = False
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        """Where the API answers, with a trailing slash."""
        return f"http://127.0.0.1:{self.port}/"

    def env(self) -> dict[str, str]:
        """Environment of every child process."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("MRIMESH_")}
        env.update(
            {
                "MRIMESH_REDIS_URL": self.redis_url,
                "MRIMESH_DATA_DIR": str(self.data_dir),
                "MRIMESH_PORT": str(self.port),
                "MRIMESH_BIND_HOST": "127.0.0.1",
                "MRIMESH_API_WORKERS": "2",
                "MRIMESH_UPLOAD_RATE_LIMIT": "1000 per hour",
                "MRIMESH_POLL_RATE_LIMIT": "100000 per minute",
                "MRIMESH_WORKER_HEARTBEAT_SECONDS": "1",
                "MRIMESH_WORKER_TIMEOUT_SECONDS": "5",
                "MRIMESH_JANITOR_INTERVAL_SECONDS": "1",
                "PYTHONUNBUFFERED": "1",
            }
        )
        if self.serve_owns_redis:
            del env["MRIMESH_REDIS_URL"]
            env["MRIMESH_SERVE_REDIS_PORT"] = str(urlparse(self.redis_url).port)
        env.update(self.extra_env)
        return env

    def _spawn(
        self, name: str, argv: list[str], env: dict[str, str] | None = None, *, replace=False
    ) -> subprocess.Popen:
        """Start ``argv``; ``env`` is added to :meth:`env`, or replaces it with ``replace``."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = (self.log_dir / f"{name}.log").open("ab")
        full_env = dict(env or {}) if replace else {**self.env(), **(env or {})}
        process = subprocess.Popen(
            argv, cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        self.processes[name] = process
        return process

    def start_api(self) -> None:
        """Start gunicorn and wait for ``/healthz``."""
        self._spawn(
            "api",
            [sys.executable, "-m", "gunicorn", "--config", "api/gunicorn_conf.py", "api.wsgi:app"],
        )
        self.wait_until(lambda: self._healthy(), 30, "the API to answer /healthz")

    def start_worker(
        self, name: str = "worker", env: dict[str, str] | None = None, *, only: bool = False
    ) -> None:
        """Start one real Dramatiq worker. ``env`` overrides the stack's variables (e.g. its own
        MRIMESH_DATA_DIR); with ``only``, the worker gets ``env`` and no other ``MRIMESH_*``."""
        if only:
            base = {k: v for k, v in os.environ.items() if not k.startswith(("MRIMESH_", "AWS_"))}
            env = {**base, "PYTHONUNBUFFERED": "1", **(env or {})}
        self._spawn(name, [sys.executable, "-m", "gpu_worker.worker"], env, replace=only)

    def start_supervised(self) -> None:
        """Start everything through ``scripts/serve.py``, as ``make run`` does."""
        self._spawn("serve", [sys.executable, "scripts/serve.py"])
        self.wait_until(lambda: self._healthy(), 60, "the supervised API to answer /healthz")

    def start_janitor(self, interval: float = 1.0) -> None:
        """Start the janitor with a short sweep interval."""
        self._spawn("janitor", [sys.executable, "-m", "gpu_worker.janitor", "--interval",
                                str(interval)])  # fmt: skip

    def wait_for_workers(self, count: int = 1, timeout: float = 120) -> None:
        """Wait until ``count`` workers report live in /stats (their models are loaded)."""
        self.wait_until(
            lambda: self.get("stats").json().get("live_workers", 0) >= count,
            timeout,
            f"{count} live worker(s)",
        )

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        """Stop one process (its whole process group, so spawned children go too)."""
        process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, sig)
            process.wait(timeout)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)

    def stop_all(self) -> None:
        """Stop every process this stack started."""
        for name in list(self.processes):
            self.stop(name)

    def get(self, path: str, **kwargs: object) -> requests.Response:
        """GET a path relative to the API root."""
        return requests.get(self.base_url + path.lstrip("/"), timeout=30, **kwargs)

    def upload(self, path: Path, name: str | None = None) -> requests.Response:
        """POST a file to /upload."""
        with path.open("rb") as f:
            return requests.post(
                self.base_url + "upload", files={"file": (name or path.name, f)}, timeout=120
            )

    def wait_for_status(self, job_id: str, statuses: set[str], timeout: float = 300) -> dict:
        """Poll /status every 0.5 s until the job reaches one of ``statuses``."""
        found: dict = {}

        def reached() -> bool:
            found.update(self.get(f"status/{job_id}").json())
            return found.get("status") in statuses

        self.wait_until(reached, timeout, f"job {job_id} to reach {sorted(statuses)}")
        return found

    def log(self, name: str) -> str:
        """What a process printed so far."""
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _healthy(self) -> bool:
        try:
            return self.get("healthz").status_code == 200
        except requests.RequestException:
            return False

    def wait_until(self, condition, timeout: float, what: str, interval: float = 0.5) -> None:
        """Poll ``condition`` until true; fail with the process logs after ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if condition():
                    return
            except requests.RequestException:
                pass
            time.sleep(interval)
        logs = "\n".join(f"--- {n} ---\n{self.log(n)[-8000:]}" for n in self.processes)
        raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{logs}")
