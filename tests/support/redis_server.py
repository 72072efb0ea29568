"""A private redis-server for tests, on a free port, in its own folder. Never a shared Redis."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import redis


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """Start, stop (gracefully or with SIGKILL) and restart one redis-server process."""

    def __init__(self, directory: Path, *, persistent: bool = True, port: int | None = None):
        self.directory = directory
        self.persistent = persistent
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (scripts/bootstrap.sh installs it)")
        self.binary = binary

    @property
    def url(self) -> str:
        """Connection URL of this server."""
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        """A new client for this server."""
        return redis.Redis.from_url(self.url, socket_timeout=5, socket_connect_timeout=2)

    def start(self) -> RedisServer:
        """Start the server and wait until it answers."""
        self.directory.mkdir(parents=True, exist_ok=True)
        persistence = (
            ["--appendonly", "yes", "--appendfsync", "everysec", "--save", "900 1"]
            if self.persistent
            else ["--appendonly", "no", "--save", ""]
        )
        argv = [
            self.binary,
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.directory),
            "--logfile", str(self.directory / "redis.log"),
            *persistence,
        ]  # fmt: skip
        self.process = subprocess.Popen(argv)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self.client().ping():
                    return self
            except redis.exceptions.RedisError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the server with ``sig`` (SIGTERM saves, SIGKILL does not) and wait for it."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(15)
        self.process = None

    def restart(self, sig: int = signal.SIGTERM) -> None:
        """Stop with ``sig`` and start again on the same port and folder."""
        self.stop(sig)
        self.start()
