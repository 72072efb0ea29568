"""Container health checks, one per kind of mrimesh process.

    python docker/healthcheck.py http     # API: GET /healthz on this container answers 200
    python docker/healthcheck.py worker   # GPU worker: this container's worker beat recently
    python docker/healthcheck.py redis    # janitor: Redis answers PING

Exit status 0 means healthy, 1 unhealthy (what Docker's HEALTHCHECK expects); the reason goes to
stdout, which ``docker inspect`` shows under ``.State.Health.Log``.

Settings, the Redis client and the worker registry come from :mod:`mrimesh` (on ``PYTHONPATH`` in
both images), so a check never disagrees with the code it checks.
"""

from __future__ import annotations

import socket
import sys
import urllib.error
import urllib.request
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mrimesh.config import Settings

#: How long one check may take before it counts as failed, in seconds.
DEFAULT_TIMEOUT_SECONDS = 4.0


def check_http(port: int, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> str:
    """Return a reason if ``GET http://127.0.0.1:{port}/healthz`` is not a 200, else ``""``."""
    url = f"http://127.0.0.1:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            if response.status != 200:
                return f"{url} answered {response.status}"
    except urllib.error.HTTPError as e:
        return f"{url} answered {e.code}"
    except (urllib.error.URLError, OSError) as e:
        return f"{url} unreachable: {e}"
    return ""


def runs_on_host(worker_id: str, hostname: str) -> bool:
    """True if ``worker_id`` names a worker process on ``hostname``.

    Worker ids are ``host:pid`` (gpu_worker/middleware.py). In a container the host name is the
    container's own, so this picks this container's worker out of all those sharing Redis.
    """
    return worker_id.split(":", 1)[0] == hostname


def _settings() -> Settings:
    from mrimesh.config import Settings

    return Settings.from_env()


def check_worker(settings: Settings | None = None, hostname: str | None = None) -> str:
    """Return a reason if no worker on this host beat within the worker timeout, else ``""``."""
    import redis

    from mrimesh.redis_client import connect
    from mrimesh.workers import WorkerRegistry

    settings = settings or _settings()
    hostname = hostname or socket.gethostname()
    registry = WorkerRegistry(connect(settings.redis_url, DEFAULT_TIMEOUT_SECONDS), settings)
    try:
        live = registry.live_ids()
    except redis.RedisError as e:
        return f"Redis unreachable: {e}"
    if any(runs_on_host(worker_id, hostname) for worker_id in live):
        return ""
    return (
        f"no heartbeat from a worker on {hostname!r} in the last "
        f"{settings.worker_timeout_seconds:g} s"
    )


def check_redis(settings: Settings | None = None) -> str:
    """Return a reason if Redis does not answer PING, else ``""``."""
    import redis

    from mrimesh.redis_client import connect

    settings = settings or _settings()
    try:
        connect(settings.redis_url, DEFAULT_TIMEOUT_SECONDS).ping()
    except redis.RedisError as e:
        return f"Redis unreachable: {e}"
    return ""


def main(argv: list[str]) -> int:
    """Run the check named by ``argv[0]``; return the exit status."""
    checks = {
        "http": lambda: check_http(_settings().port),
        "worker": check_worker,
        "redis": check_redis,
    }
    if len(argv) != 1 or argv[0] not in checks:
        print(f"usage: healthcheck.py {{{'|'.join(checks)}}}", file=sys.stderr)
        return 2
    reason = checks[argv[0]]()
    if reason:
        print(f"unhealthy: {reason}")
        return 1
    print("healthy")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
