"""Large uploads through the real gunicorn API into a real SeaweedFS, parts sent as they arrive.

The unit tests drive the view with Flask's test client; here the body comes over a socket through
gunicorn's own reader (and :class:`api.upload_stream.BufferedBodies`), the parts go to the
bucket from the API process, and a client that hangs up mid-body is noticed by the server.
"""

from __future__ import annotations

import gzip
import os
import socket
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from tests.support.redis_server import RedisServer
from tests.support.s3_server import S3Server
from tests.support.service import ServiceStack

pytestmark = [pytest.mark.integration]

PART = 5 * 1024**2


@pytest.fixture
def api(tmp_path: Path, s3_server: S3Server) -> Iterator[ServiceStack]:
    server = RedisServer(tmp_path / "redis", persistent=False).start()
    stack = ServiceStack(
        redis_url=server.url,
        data_dir=tmp_path / "api",
        log_dir=tmp_path / "logs",
        extra_env={**s3_server.env(), "MRIMESH_S3_PART_BYTES": str(PART)},
    )
    try:
        stack.start_api()
        yield stack
    finally:
        stack.stop_all()
        server.stop()


def _scan(path: Path, size: int) -> Path:
    """A gzipped NIfTI header the upload check accepts, padded with random bytes to ``size``."""
    image = nib.Nifti1Image(np.zeros((16, 16, 16), np.uint8), np.eye(4))
    head = gzip.compress(image.to_bytes())
    path.write_bytes(head + os.urandom(size - len(head)))
    return path


def _unfinished(s3_server: S3Server) -> list[str]:
    answer = s3_server.client().list_multipart_uploads(Bucket=s3_server.bucket)
    return [upload["Key"] for upload in answer.get("Uploads", [])]


def _temporary_files(stack: ServiceStack) -> list[Path]:
    tmp = stack.data_dir / "tmp"
    return sorted(tmp.iterdir()) if tmp.is_dir() else []


def test_a_large_upload_arrives_whole_in_the_bucket(
    api: ServiceStack, s3_server: S3Server, tmp_path: Path
) -> None:
    scan = _scan(tmp_path / "scan.nii.gz", 4 * PART + 777)
    answer = api.upload(scan)
    assert answer.status_code == 202, answer.text
    job_id = answer.json()["job_id"]
    stored = s3_server.client().get_object(
        Bucket=s3_server.bucket, Key=f"jobs/{job_id}/input/upload.nii.gz"
    )
    assert stored["Body"].read() == scan.read_bytes()
    assert _unfinished(s3_server) == []
    assert _temporary_files(api) == []


def test_a_refused_large_upload_leaves_no_parts(
    api: ServiceStack, s3_server: S3Server, tmp_path: Path
) -> None:
    before = s3_server.object_keys()
    fake = tmp_path / "fake.nii.gz"
    fake.write_bytes(b"\x1f\x8b" + os.urandom(3 * PART))  # gzip magic, no NIfTI inside
    answer = api.upload(fake)
    assert (answer.status_code, answer.json()["code"]) == (422, "invalid_image")
    assert s3_server.object_keys() == before
    assert _unfinished(s3_server) == []
    assert _temporary_files(api) == []


def test_a_client_hanging_up_mid_body_leaves_no_parts(
    api: ServiceStack, s3_server: S3Server, tmp_path: Path
) -> None:
    # Given a client that announces 25 MiB and hangs up after 3 parts' worth
    before = s3_server.object_keys()
    boundary = "mrimesh-test-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="scan.nii.gz"\r\n'
        "Content-Type: application/gzip\r\n\r\n"
    ).encode()
    body = head + _scan(tmp_path / "scan.nii.gz", 5 * PART).read_bytes()
    url = urllib.parse.urlsplit(api.base_url)
    with socket.create_connection((url.hostname, url.port)) as conn:
        conn.sendall(
            (
                f"POST /upload HTTP/1.1\r\nHost: {url.netloc}\r\n"
                f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                f"Content-Length: {len(body) + 100}\r\n\r\n"
            ).encode()
        )
        conn.sendall(body[: len(head) + 3 * PART + 1000])
        # (while it is still connected, the parts received are on their way into the bucket)
        api.wait_until(
            lambda: len(_unfinished(s3_server)) == 1,
            timeout=30,
            what="the upload's parts to be sent while the body arrives",
        )
    # Then the API notices, and neither an object, a part nor a temporary file is left
    api.wait_until(
        lambda: _unfinished(s3_server) == [] and _temporary_files(api) == [],
        timeout=30,
        what="the cut-short upload's parts and temporary file to be dropped",
    )
    assert s3_server.object_keys() == before
    # and the API still takes uploads
    answer = api.upload(_scan(tmp_path / "next.nii.gz", PART + 1))
    assert answer.status_code == 202, answer.text
