"""The S3 back end against a real SeaweedFS: the same contract as the local folder, signed links."""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

import pytest
import requests

from mrimesh.config import Settings
from mrimesh.paths import new_job_id
from mrimesh.storage import (
    RESULT_ZIP,
    ObjectMissing,
    StorageConfigError,
    StorageError,
    input_name,
    open_storage,
)
from mrimesh.storage_s3 import S3Storage
from tests.support.redis_server import free_port
from tests.support.s3_server import S3Server


@pytest.fixture
def storage(s3_settings: Settings) -> S3Storage:
    opened = open_storage(s3_settings)
    assert isinstance(opened, S3Storage)
    return opened


def test_put_fetch_names_and_delete_job(storage: S3Storage, s3_server: S3Server, tmp_path: Path):
    job_id = new_job_id()
    source = tmp_path / "scan.nii.gz"
    source.write_bytes(b"scan bytes")

    storage.put(job_id, input_name(".nii.gz"), source)
    storage.put(job_id, RESULT_ZIP, source)
    storage.put(job_id, "files/brain.glb", source)

    assert storage.names(job_id) == ["files/brain.glb", "input/upload.nii.gz", "result.zip"]
    assert s3_server.object_keys(f"jobs/{job_id}/") == [
        f"jobs/{job_id}/files/brain.glb",
        f"jobs/{job_id}/input/upload.nii.gz",
        f"jobs/{job_id}/result.zip",
    ]
    assert storage.exists(job_id, RESULT_ZIP)
    assert abs(storage.stored_jobs()[job_id] - time.time()) < 60
    copy = tmp_path / "scratch" / "copy.nii.gz"
    storage.fetch(job_id, input_name(".nii.gz"), copy)
    assert copy.read_bytes() == b"scan bytes"
    stream, size = storage.open(job_id, RESULT_ZIP)
    assert (stream.read(), size) == (b"scan bytes", 10)
    assert storage.local_path(job_id, RESULT_ZIP) is None

    storage.delete(job_id, input_name(".nii.gz"))
    assert not storage.exists(job_id, input_name(".nii.gz"))
    storage.delete_job(job_id)
    storage.delete_job(job_id)  # idempotent
    assert storage.names(job_id) == []
    assert s3_server.object_keys(f"jobs/{job_id}/") == []
    with pytest.raises(ObjectMissing):
        storage.fetch(job_id, RESULT_ZIP, copy)
    assert not list(copy.parent.glob(".*.part")), "a failed fetch leaves no partial file"


def test_a_large_file_goes_up_in_parts_and_comes_back_whole(
    s3_settings: Settings, s3_server: S3Server, tmp_path: Path
):
    # Given a store whose parts are 5 MiB (S3's smallest) and a 12 MiB file
    storage = open_storage(dataclasses.replace(s3_settings, s3_part_bytes=5 * 1024**2))
    job_id = new_job_id()
    source = tmp_path / "big.nii.gz"
    source.write_bytes(os.urandom(12 * 1024**2))
    # When it is stored
    storage.put(job_id, input_name(".nii.gz"), source)
    # Then the store holds it as a multipart object (its ETag counts the parts) ...
    head = s3_server.client().head_object(
        Bucket=s3_server.bucket, Key=f"jobs/{job_id}/input/upload.nii.gz"
    )
    assert head["ContentLength"] == source.stat().st_size
    assert head["ETag"].strip('"').endswith("-3"), head["ETag"]
    # ... and it comes back byte for byte
    copy = tmp_path / "copy.nii.gz"
    storage.fetch(job_id, input_name(".nii.gz"), copy)
    assert copy.read_bytes() == source.read_bytes()
    storage.delete_job(job_id)


def test_a_download_link_names_the_file_and_serves_a_zip(
    storage: S3Storage, tmp_path: Path
) -> None:
    job_id = new_job_id()
    source = tmp_path / "result.zip"
    source.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    storage.put(job_id, RESULT_ZIP, source)

    link = storage.link(
        job_id, RESULT_ZIP, filename="mrimesh-abc.zip", content_type="application/zip"
    )

    assert link is not None
    answer = requests.get(link.url, timeout=10)
    assert answer.status_code == 200
    assert answer.content == source.read_bytes()
    assert answer.headers["Content-Type"] == "application/zip"
    assert 'attachment; filename="mrimesh-abc.zip"' in answer.headers["Content-Disposition"]
    storage.delete_job(job_id)


def test_a_link_for_one_job_cannot_be_turned_into_another_jobs(
    storage: S3Storage, tmp_path: Path
) -> None:
    # Given two jobs with results, and a link to the first one's
    mine, theirs = new_job_id(), new_job_id()
    source = tmp_path / "result.zip"
    for job_id in (mine, theirs):
        source.write_bytes(b"result of " + job_id.encode())
        storage.put(job_id, RESULT_ZIP, source)
    link = storage.link(mine, RESULT_ZIP, filename="r.zip", content_type="application/zip")
    assert link is not None and mine in link.url
    # When the other job's id is put in its place
    forged = link.url.replace(mine, theirs)
    answer = requests.get(forged, timeout=10)
    # Then the server refuses it: the signature covers the key
    assert answer.status_code == 403
    assert "SignatureDoesNotMatch" in answer.text
    assert b"result of" not in answer.content
    # and the untouched link still works
    assert requests.get(link.url, timeout=10).content == b"result of " + mine.encode()
    for job_id in (mine, theirs):
        storage.delete_job(job_id)


def test_an_expired_link_is_refused_by_the_server(s3_settings: Settings, tmp_path: Path) -> None:
    storage = open_storage(dataclasses.replace(s3_settings, s3_link_seconds=1))
    job_id = new_job_id()
    source = tmp_path / "result.zip"
    source.write_bytes(b"result")
    storage.put(job_id, RESULT_ZIP, source)
    link = storage.link(job_id, RESULT_ZIP, filename="r.zip", content_type="application/zip")
    assert link is not None
    assert requests.get(link.url, timeout=10).status_code == 200

    time.sleep(2.2)

    answer = requests.get(link.url, timeout=10)
    assert answer.status_code == 403
    assert "expired" in answer.text.lower()
    storage.delete_job(job_id)


def test_links_are_signed_for_the_public_endpoint(s3_settings: Settings, s3_server) -> None:
    public = "https://files.example.org"
    storage = open_storage(dataclasses.replace(s3_settings, s3_public_endpoint=public))
    link = storage.link(new_job_id(), RESULT_ZIP, filename="r.zip", content_type="application/zip")
    assert link is not None
    assert link.url.startswith(f"{public}/{s3_server.bucket}/jobs/")
    assert s3_server.endpoint not in link.url


def test_proxied_downloads_get_no_link(s3_settings: Settings) -> None:
    storage = open_storage(dataclasses.replace(s3_settings, s3_proxy_downloads=1))
    assert storage.link(new_job_id(), RESULT_ZIP, filename="r", content_type="x") is None


def test_wrong_credentials_are_a_clear_error_at_check(
    s3_settings: Settings, s3_server: S3Server
) -> None:
    storage = open_storage(dataclasses.replace(s3_settings, aws_secret_access_key="wrong" * 8))
    with pytest.raises(StorageConfigError) as caught:
        storage.check()
    message = str(caught.value)
    assert "credentials" in message and "AWS_SECRET_ACCESS_KEY" in message
    assert s3_server.endpoint not in message
    assert s3_server.access_key not in message and s3_server.secret_key not in message


def test_a_missing_bucket_is_a_clear_error_at_check(s3_settings: Settings) -> None:
    storage = open_storage(dataclasses.replace(s3_settings, s3_bucket="no-such-bucket"))
    with pytest.raises(StorageConfigError, match="does not exist"):
        storage.check()


def test_an_unreachable_store_is_a_plain_error(s3_settings: Settings, tmp_path: Path) -> None:
    # Given a store address where nothing listens
    dead = f"http://127.0.0.1:{free_port()}"
    storage = open_storage(dataclasses.replace(s3_settings, s3_endpoint=dead))
    source = tmp_path / "f"
    source.write_bytes(b"x")
    # Then start-up, a put and a fetch fail with our own words, never the address
    with pytest.raises(StorageConfigError) as at_start:
        storage.check()
    with pytest.raises(StorageError) as at_put:
        storage.put(new_job_id(), RESULT_ZIP, source)
    with pytest.raises(StorageError) as at_fetch:
        storage.fetch(new_job_id(), RESULT_ZIP, tmp_path / "copy")
    for caught in (at_start, at_put, at_fetch):
        text = str(caught.value)
        assert "127.0.0.1" not in text and dead not in text
        assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert "could not connect" in str(at_put.value)


def test_a_name_we_did_not_build_never_becomes_a_key(storage: S3Storage) -> None:
    for name in ("../x", "/abs", "files/../../other", "Upload.NII", ""):
        with pytest.raises(ValueError):
            storage.key(new_job_id(), name)
    with pytest.raises(ValueError):
        storage.key("../../etc", RESULT_ZIP)


def test_unknown_backend_is_refused(settings: Settings) -> None:
    with pytest.raises(StorageConfigError, match="MRIMESH_STORAGE"):
        open_storage(dataclasses.replace(settings, storage="ftp"))


def test_stale_unfinished_uploads_are_aborted_and_fresh_ones_kept(
    storage: S3Storage, s3_server: S3Server
) -> None:
    # Given an upload an API began and never finished (it died), with one part in the store
    key = storage.key(new_job_id(), "input/upload.nii.gz")
    client = s3_server.client()
    begun = client.create_multipart_upload(Bucket=s3_server.bucket, Key=key)["UploadId"]
    client.upload_part(
        Bucket=s3_server.bucket, Key=key, UploadId=begun, PartNumber=1, Body=b"x" * 1024
    )
    listed = client.list_multipart_uploads(Bucket=s3_server.bucket).get("Uploads", [])
    assert [u["UploadId"] for u in listed if u["Key"] == key] == [begun]
    # When the janitor looks for uploads begun before an hour ago, it keeps this one
    assert storage.abort_stale_puts(time.time() - 3600) == 0
    # and once it is old enough, aborts it
    assert storage.abort_stale_puts(time.time() + 60) == 1
    listed = client.list_multipart_uploads(Bucket=s3_server.bucket).get("Uploads", [])
    assert [u for u in listed if u["Key"] == key] == []
