"""docker/healthcheck.py tells Docker whether each container can do its work."""

from __future__ import annotations

import dataclasses
import http.server
import importlib.util
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mrimesh.timefmt import now
from mrimesh.workers import WorkerRegistry

SCRIPT = Path(__file__).resolve().parents[2] / "docker" / "healthcheck.py"

_spec = importlib.util.spec_from_file_location("mrimesh_docker_healthcheck", SCRIPT)
healthcheck = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(healthcheck)


@pytest.fixture
def healthz() -> Iterator[tuple[int, list[int]]]:
    """A local server whose /healthz answers the status at the head of the returned list."""
    statuses = [200]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status = statuses[0] if self.path == "/healthz" else 404
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], statuses
    server.shutdown()
    server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_http_is_healthy_when_healthz_answers_200(healthz):
    port, _ = healthz
    assert healthcheck.check_http(port) == ""


def test_http_is_unhealthy_when_healthz_answers_503(healthz):
    # given an API whose Redis is down
    port, statuses = healthz
    statuses[0] = 503
    # then the container is unhealthy, and says why
    assert "503" in healthcheck.check_http(port)


def test_http_is_unhealthy_when_nothing_listens():
    assert "unreachable" in healthcheck.check_http(free_port(), timeout=1)


@pytest.mark.parametrize(
    ("worker_id", "expected"),
    [("c0ffee:17", True), ("c0ffee:1", True), ("c0ffee0:17", False), ("other:17", False)],
)
def test_runs_on_host_matches_the_host_part_exactly(worker_id, expected):
    assert healthcheck.runs_on_host(worker_id, "c0ffee") is expected


def test_worker_is_healthy_while_its_own_heartbeat_is_fresh(settings, redis_client):
    # given a worker on this host that beat just now, and one on another host
    registry = WorkerRegistry(redis_client, settings)
    registry.beat("worker-host:41")
    registry.beat("other-host:7")
    # then this host's check passes
    assert healthcheck.check_worker(settings, hostname="worker-host") == ""


def test_worker_is_unhealthy_when_only_other_hosts_beat(settings, redis_client):
    WorkerRegistry(redis_client, settings).beat("other-host:7")
    reason = healthcheck.check_worker(settings, hostname="worker-host")
    assert "no heartbeat" in reason and "worker-host" in reason


def test_worker_is_unhealthy_when_its_heartbeat_is_stale(settings, redis_client):
    stale = now() - settings.worker_timeout_seconds - 5
    WorkerRegistry(redis_client, settings).beat("worker-host:41", at=stale)
    assert "no heartbeat" in healthcheck.check_worker(settings, hostname="worker-host")


def test_redis_checks_answer_whether_redis_does(settings):
    assert healthcheck.check_redis(settings) == ""
    gone = dataclasses.replace(settings, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    assert "Redis unreachable" in healthcheck.check_redis(gone)
    assert "Redis unreachable" in healthcheck.check_worker(gone, hostname="worker-host")


def test_main_exits_1_with_the_reason_when_unhealthy(monkeypatch, capsys):
    monkeypatch.setenv("MRIMESH_PORT", str(free_port()))
    assert healthcheck.main(["http"]) == 1
    assert capsys.readouterr().out.startswith("unhealthy: ")


def test_main_rejects_an_unknown_check(capsys):
    assert healthcheck.main(["disk"]) == 2
    assert "usage" in capsys.readouterr().err
