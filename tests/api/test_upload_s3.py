"""POST /upload with the S3 back end (a real SeaweedFS): stored in the bucket, or nothing at all."""

from __future__ import annotations

import dataclasses
import gzip
import io
import logging
import os

import botocore.exceptions
import nibabel as nib
import numpy as np
import pytest
import redis

from api.app import create_app
from mrimesh.config import Settings
from mrimesh.keys import Keys
from mrimesh.s3_streaming_put import S3StreamingPut
from mrimesh.storage import StorageConfigError
from tests.support.redis_server import free_port
from tests.support.s3_server import S3Server


def _post(client, payload: bytes, name: str):
    return client.post(
        "/upload", data={"file": (io.BytesIO(payload), name)}, content_type="multipart/form-data"
    )


def _leftovers(settings: Settings) -> list[str]:
    """Files the API left on its own disk (temporary uploads, job folders)."""
    root = settings.data_dir
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_an_upload_lands_in_the_bucket_and_not_on_the_api_disk(
    s3_settings: Settings, s3_server: S3Server, brain_2mm, redis_client
) -> None:
    client = create_app({"SETTINGS": s3_settings}).test_client()

    response = _post(client, brain_2mm.read_bytes(), "Jane_Doe_T1.nii.gz")

    assert response.status_code == 202, response.get_json()
    job_id = response.get_json()["job_id"]
    assert s3_server.object_keys(f"jobs/{job_id}/") == [
        f"jobs/{job_id}/input/upload.nii.gz",
        f"jobs/{job_id}/options.json",  # the print options the job was made with
    ]
    stored = s3_server.client().get_object(
        Bucket=s3_server.bucket, Key=f"jobs/{job_id}/input/upload.nii.gz"
    )
    assert stored["Body"].read() == brain_2mm.read_bytes()
    assert _leftovers(s3_settings) == []
    # The original file name is stored nowhere, in the bucket either.
    assert not [key for key in s3_server.object_keys() if "Jane" in key]


@pytest.mark.parametrize(
    ("name", "payload", "status", "code"),
    [
        ("notes.txt", b"hello", 415, "unsupported_type"),
        ("scan.nii.gz", b"", 422, "empty_file"),
        ("scan.nii.gz", b"not gzip at all", 422, "invalid_image"),
        ("scan.zip", b"PK\x03\x04garbage", 422, "invalid_zip"),
    ],
)
def test_refused_uploads_keep_their_answer_and_leave_nothing(
    s3_settings: Settings, s3_server: S3Server, name, payload, status, code
) -> None:
    client = create_app({"SETTINGS": s3_settings}).test_client()
    before = s3_server.object_keys()
    response = _post(client, payload, name)
    assert (response.status_code, response.get_json()["code"]) == (status, code)
    assert s3_server.object_keys() == before
    assert _leftovers(s3_settings) == []


def test_an_unreachable_store_answers_503_json_and_keeps_nothing(
    s3_settings: Settings, s3_server: S3Server, brain_2mm, redis_client, monkeypatch, caplog
) -> None:
    # Given an API that started while the store was up, and a store that then went away
    client = create_app({"SETTINGS": s3_settings}).test_client()
    before = s3_server.object_keys()
    dead = f"http://127.0.0.1:{free_port()}"
    storage = client.application.extensions["mrimesh"].storage
    monkeypatch.setattr(storage, "client", _client_for(storage, dead))
    # When a scan is uploaded
    with caplog.at_level(logging.INFO):
        response = _post(client, brain_2mm.read_bytes(), "scan.nii.gz")
    # Then the answer is a JSON 503 that asks to come back later
    assert response.status_code == 503
    body = response.get_json()
    assert body["code"] == "storage_unavailable"
    assert int(response.headers["Retry-After"]) > 0
    # and no record, object or temporary file is left
    keys = Keys(s3_settings.key_prefix)
    assert redis_client.zcard(keys.waiting) == 0
    assert not list(redis_client.scan_iter(f"{s3_settings.key_prefix}:job:*"))
    assert s3_server.object_keys() == before
    assert _leftovers(s3_settings) == []
    # and neither the answer nor the log names the store's address or credentials
    for text in (response.get_data(as_text=True), caplog.text):
        for secret in ("127.0.0.1", s3_server.access_key, s3_server.secret_key):
            assert secret not in text


def test_a_redis_failure_after_the_put_deletes_the_object(
    s3_settings: Settings, s3_server: S3Server, brain_2mm, monkeypatch
) -> None:
    client = create_app({"SETTINGS": s3_settings}).test_client()
    before = s3_server.object_keys()

    def refuse(*args, **kwargs):
        raise redis.exceptions.ConnectionError("Redis went away")

    monkeypatch.setattr("mrimesh.lifecycle.Lifecycle.create", refuse)
    response = _post(client, brain_2mm.read_bytes(), "scan.nii.gz")
    assert response.status_code == 503
    assert s3_server.object_keys() == before
    assert _leftovers(s3_settings) == []


def test_wrong_credentials_stop_the_api_at_start_up(
    s3_settings: Settings, s3_server: S3Server
) -> None:
    wrong = dataclasses.replace(s3_settings, aws_secret_access_key="not-the-secret")
    with pytest.raises(StorageConfigError) as caught:
        create_app({"SETTINGS": wrong})
    message = str(caught.value)
    assert "credentials" in message
    assert s3_server.endpoint not in message and "not-the-secret" not in message


def test_settings_never_show_the_credentials(s3_settings: Settings, s3_server: S3Server) -> None:
    assert s3_server.secret_key not in repr(s3_settings)
    assert s3_server.access_key not in repr(s3_settings)


def _client_for(storage, endpoint: str):
    """A boto3 client like the storage's own, pointed at ``endpoint``."""
    import boto3

    credentials = storage.client._request_signer._credentials
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=credentials.access_key,
        aws_secret_access_key=credentials.secret_key,
        region_name="us-east-1",
        config=storage.client.meta.config,
    )


# -- uploads larger than a part: sent to the bucket while they arrive ----------------------

PART = 5 * 1024**2  # the smallest part S3 allows


@pytest.fixture
def part_settings(s3_settings: Settings) -> Settings:
    """S3 settings with 5 MiB parts, so a 17 MiB upload is four parts."""
    return dataclasses.replace(s3_settings, s3_part_bytes=PART)


def _big_scan(size: int = 3 * PART + 1234) -> bytes:
    """A gzipped NIfTI header the upload check accepts, padded with random bytes to ``size``."""
    image = nib.Nifti1Image(np.zeros((16, 16, 16), np.uint8), np.eye(4))
    head = gzip.compress(image.to_bytes())
    return head + os.urandom(size - len(head))


def _unfinished_uploads(s3_server: S3Server) -> list[str]:
    """Keys of multipart uploads begun and neither completed nor aborted."""
    answer = s3_server.client().list_multipart_uploads(Bucket=s3_server.bucket)
    return [upload["Key"] for upload in answer.get("Uploads", [])]


def test_a_large_upload_goes_up_in_parts_while_it_arrives(
    part_settings: Settings, s3_server: S3Server, redis_client, monkeypatch
) -> None:
    client = create_app({"SETTINGS": part_settings}).test_client()
    payload = _big_scan()
    parts_before_complete: list[int] = []
    complete = S3StreamingPut.complete

    def counting(self, size):
        parts_before_complete.append(len(self._parts))  # handed to the store before the end
        return complete(self, size)

    monkeypatch.setattr(S3StreamingPut, "complete", counting)
    response = _post(client, payload, "scan.nii.gz")

    assert response.status_code == 202, response.get_json()
    job_id = response.get_json()["job_id"]
    # The three whole parts were in the bucket before the view completed the put
    assert parts_before_complete == [3]
    stored = s3_server.client().get_object(
        Bucket=s3_server.bucket, Key=f"jobs/{job_id}/input/upload.nii.gz"
    )
    assert stored["Body"].read() == payload
    assert _unfinished_uploads(s3_server) == []
    assert _leftovers(part_settings) == []


@pytest.mark.parametrize(
    ("form", "payload", "code"),
    [
        ({}, b"\x1f\x8b" + os.urandom(3 * PART), "invalid_image"),  # gzip, not a NIfTI
        ({"hollow_mm": "500"}, None, "invalid_option"),  # a scan, with an option refused
    ],
)
def test_a_refused_large_upload_leaves_no_parts(
    part_settings: Settings, s3_server: S3Server, form, payload, code
) -> None:
    client = create_app({"SETTINGS": part_settings}).test_client()
    before = s3_server.object_keys()
    body = {"file": (io.BytesIO(payload or _big_scan()), "scan.nii.gz"), **form}
    response = client.post("/upload", data=body, content_type="multipart/form-data")
    assert (response.status_code, response.get_json()["code"]) == (422, code)
    assert s3_server.object_keys() == before
    assert _unfinished_uploads(s3_server) == []
    assert _leftovers(part_settings) == []


def test_a_body_cut_short_leaves_no_parts(
    part_settings: Settings, s3_server: S3Server, monkeypatch
) -> None:
    # Given a request whose body stops mid-file, after two parts' worth (the client went away)
    client = create_app({"SETTINGS": part_settings}).test_client()
    before = s3_server.object_keys()
    sent = []
    send = S3StreamingPut._send

    def counting(self, number, offset, length):
        sent.append(number)
        return send(self, number, offset, length)

    monkeypatch.setattr(S3StreamingPut, "_send", counting)
    boundary = "mrimesh-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="scan.nii.gz"\r\n'
        "Content-Type: application/gzip\r\n\r\n"
    ).encode()
    body = head + _big_scan()
    response = client.post(
        "/upload",
        input_stream=io.BytesIO(body[: len(head) + 2 * PART + 100]),
        content_type=f"multipart/form-data; boundary={boundary}",
        headers={"Content-Length": str(len(body) + 100)},
    )
    # Then the answer is a client error and the bucket holds nothing of the parts sent
    assert 400 <= response.status_code < 500
    assert sorted(sent) == [1, 2]
    assert s3_server.object_keys() == before
    assert _unfinished_uploads(s3_server) == []
    assert _leftovers(part_settings) == []


def test_a_store_failing_mid_upload_answers_503_and_leaves_nothing(
    part_settings: Settings, s3_server: S3Server, redis_client, monkeypatch
) -> None:
    client = create_app({"SETTINGS": part_settings}).test_client()
    before = s3_server.object_keys()
    storage = client.application.extensions["mrimesh"].storage
    sent = []
    upload_part = storage.client.upload_part

    def failing_second(**kwargs):
        sent.append(kwargs["PartNumber"])
        if kwargs["PartNumber"] == 2:
            raise botocore.exceptions.EndpointConnectionError(endpoint_url="http://store")
        return upload_part(**kwargs)

    monkeypatch.setattr(storage.client, "upload_part", failing_second)
    response = _post(client, _big_scan(), "scan.nii.gz")
    assert response.status_code == 503
    assert response.get_json()["code"] == "storage_unavailable"
    assert 2 in sent
    assert not list(redis_client.scan_iter(f"{part_settings.key_prefix}:job:*"))
    assert s3_server.object_keys() == before
    assert _unfinished_uploads(s3_server) == []
    assert _leftovers(part_settings) == []
