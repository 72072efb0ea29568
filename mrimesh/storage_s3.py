"""The S3-compatible back end of :class:`~mrimesh.storage.JobStorage` (boto3).

A job's objects are ``jobs/<job_id>/<name>`` in one bucket, ``<name>`` always one we build
(:func:`~mrimesh.storage.check_name`). Large files go up in parts (boto3's ``TransferConfig``), so
neither the API nor a worker ever holds a whole scan in memory; the API's uploads start going up
while they still arrive (:mod:`mrimesh.s3_streaming_put`). Download links are presigned for
the address browsers reach (``MRIMESH_S3_PUBLIC_ENDPOINT``), which may differ from the one the
service uses inside its network.

Every boto3 error is translated at this boundary (:mod:`mrimesh.s3_errors`) into our
:class:`~mrimesh.storage.StorageError`, whose text names neither the endpoint nor a key.

``python -m mrimesh.storage_s3 configure-bucket`` applies the bucket settings an operator wants
(CORS for the results page, a lifecycle rule as the janitor's backstop); see docs/operations.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote, urlsplit

import boto3
import botocore.exceptions
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from mrimesh.config import Settings
from mrimesh.paths import is_job_id
from mrimesh.s3_errors import status_of, translated, what_failed
from mrimesh.s3_streaming_put import S3StreamingPut
from mrimesh.storage import (
    DownloadLink,
    ObjectMissing,
    StorageConfigError,
    StorageError,
    check_name,
)

#: Prefix of every object this service writes in the bucket.
KEY_PREFIX = "jobs/"
#: Seconds to wait for a TCP connection to the store before giving up on one try.
CONNECT_TIMEOUT_SECONDS = 5
#: Seconds to wait for the store to answer one request.
READ_TIMEOUT_SECONDS = 60
#: Tries per request (boto3's "standard" retry mode: back-off with jitter on throttling and
#: connection errors); a job's own retries come on top for a longer outage.
MAX_TRIES = 3
#: Connections kept per client: gunicorn's threads and the transfer's parts share them.
MAX_POOL_CONNECTIONS = 16
#: Days after which the bucket's lifecycle rule deletes an object the janitor missed.
DEFAULT_LIFECYCLE_DAYS = 2
#: Store error codes that mean the settings (bucket or credentials), not the network, are wrong.
_CONFIG_CODES = {
    "403",
    "404",
    "AccessDenied",
    "AllAccessDisabled",
    "InvalidAccessKeyId",
    "InvalidBucketName",
    "NoSuchBucket",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
}
#: Libraries whose warnings print the store's address (connection pool and retry messages).
_CHATTY_LOGGERS = ("botocore", "boto3", "s3transfer", "urllib3")


def _quiet_client_logs() -> None:
    """Keep boto3's and urllib3's own log lines, which name the endpoint, out of our logs."""
    for name in _CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL)


class S3Storage:
    """Objects in one bucket of an S3-compatible store, under ``jobs/<job_id>/``."""

    def __init__(
        self,
        *,
        bucket: str,
        endpoint: str | None = None,
        public_endpoint: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        link_seconds: int = 300,
        proxy_downloads: bool = False,
        part_bytes: int = 16 * 1024**2,
        concurrency: int = 4,
    ):
        if not bucket:
            raise StorageConfigError("MRIMESH_STORAGE=s3 needs MRIMESH_S3_BUCKET.")
        _quiet_client_logs()
        self.bucket = bucket
        self.link_seconds = link_seconds
        self.proxy_downloads = proxy_downloads
        config = Config(
            signature_version="s3v4",
            # S3-compatible servers (SeaweedFS, MinIO, Ceph) reject or mis-handle the CRC
            # checksums boto3 adds by default since 1.36; send and check them only when required.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            s3={"addressing_style": "path"},
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            read_timeout=READ_TIMEOUT_SECONDS,
            retries={"mode": "standard", "max_attempts": MAX_TRIES},
            max_pool_connections=MAX_POOL_CONNECTIONS,
        )
        session = boto3.session.Session(
            aws_access_key_id=access_key_id or None,
            aws_secret_access_key=secret_access_key or None,
            region_name=region or "us-east-1",
        )
        self.client = session.client("s3", endpoint_url=endpoint or None, config=config)
        self.public_client = (
            session.client("s3", endpoint_url=public_endpoint, config=config)
            if public_endpoint and public_endpoint != endpoint
            else self.client
        )
        self.transfer = TransferConfig(
            multipart_threshold=part_bytes,
            multipart_chunksize=part_bytes,
            max_concurrency=concurrency,
            use_threads=concurrency > 1,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Storage:
        """The store ``MRIMESH_S3_*`` and ``AWS_*`` describe."""
        return cls(
            bucket=settings.s3_bucket,
            endpoint=settings.s3_endpoint or None,
            public_endpoint=settings.s3_public_endpoint or settings.s3_endpoint or None,
            region=settings.aws_default_region,
            access_key_id=settings.aws_access_key_id or None,
            secret_access_key=settings.aws_secret_access_key or None,
            link_seconds=settings.s3_link_seconds,
            proxy_downloads=bool(settings.s3_proxy_downloads),
            part_bytes=settings.s3_part_bytes,
            concurrency=settings.s3_concurrency,
        )

    # -- keys ------------------------------------------------------------------------------
    def key(self, job_id: str, name: str) -> str:
        """The object key of a job's object; both parts are checked to be ours."""
        check_name(job_id, name)
        return f"{KEY_PREFIX}{job_id}/{name}"

    def _job_prefix(self, job_id: str) -> str:
        check_name(job_id, "x")
        return f"{KEY_PREFIX}{job_id}/"

    # -- JobStorage ------------------------------------------------------------------------
    def put(self, job_id: str, name: str, source: Path) -> None:
        """Upload ``source`` (in parts when large); the object appears whole when it completes."""
        self.put_file(source, self.key(job_id, name))

    def put_file(self, source: Path, key: str) -> None:
        """Upload ``source`` as ``key`` (a key :meth:`key` built)."""
        with translated("store a file"):
            self.client.upload_file(str(source), self.bucket, key, Config=self.transfer)

    def streaming_put(self, job_id: str, name: str, path: Path) -> S3StreamingPut:
        """A multipart upload fed part by part while ``path`` is being written."""
        return S3StreamingPut(self, self.key(job_id, name), path)

    def abort_stale_puts(self, started_before: float) -> int:
        """Abort our multipart uploads begun before ``started_before`` (an API that died
        mid-upload); the bucket's lifecycle rule is the backstop for a store without the
        listing."""
        count = 0
        with translated("list unfinished uploads"):
            pages = self.client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self.bucket, Prefix=KEY_PREFIX
            )
            stale = [
                (upload["Key"], upload["UploadId"])
                for page in pages
                for upload in page.get("Uploads", [])
                if upload["Initiated"].timestamp() < started_before
            ]
        for key, upload_id in stale:
            with translated("drop an unfinished upload"):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            count += 1
        return count

    def fetch(self, job_id: str, name: str, destination: Path) -> None:
        """Download the object (in parts when large) to ``destination``, renamed into place."""
        key = self.key(job_id, name)
        destination.parent.mkdir(parents=True, exist_ok=True)
        partial = destination.with_name(f".{destination.name}.part")
        try:
            with translated("read a file", name):
                self.client.download_file(self.bucket, key, str(partial), Config=self.transfer)
            os.replace(partial, destination)
        finally:
            partial.unlink(missing_ok=True)

    def exists(self, job_id: str, name: str) -> bool:
        """One HEAD request."""
        key = self.key(job_id, name)
        try:
            with translated("look up a file", name):
                self.client.head_object(Bucket=self.bucket, Key=key)
        except ObjectMissing:
            return False
        return True

    def names(self, job_id: str) -> list[str]:
        """The job's object names, from a listing of its prefix."""
        prefix = self._job_prefix(job_id)
        return sorted(key[len(prefix) :] for key in self._keys(prefix))

    def delete(self, job_id: str, name: str) -> None:
        """Delete one object (a missing one is no error in S3)."""
        key = self.key(job_id, name)
        with translated("delete a file"):
            self.client.delete_object(Bucket=self.bucket, Key=key)

    def delete_job(self, job_id: str) -> None:
        """Delete every object under the job's prefix, a thousand per request."""
        keys = self._keys(self._job_prefix(job_id))
        with translated("delete a job's files"):
            for start in range(0, len(keys), 1000):
                batch = [{"Key": key} for key in keys[start : start + 1000]]
                answer = self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
                )
                if answer.get("Errors"):
                    codes = sorted({str(e.get("Code")) for e in answer["Errors"]})
                    raise StorageError(
                        f"the file store could not delete a job's files ({', '.join(codes)})."
                    )

    def local_path(self, job_id: str, name: str) -> Path | None:
        """Objects are never on the API's disk."""
        return None

    def open(self, job_id: str, name: str) -> tuple[BinaryIO, int]:
        """A GET whose body is read as it streams."""
        key = self.key(job_id, name)
        with translated("read a file", name):
            answer = self.client.get_object(Bucket=self.bucket, Key=key)
        return answer["Body"], int(answer["ContentLength"])

    def link(
        self, job_id: str, name: str, *, filename: str, content_type: str
    ) -> DownloadLink | None:
        """A presigned GET for the public endpoint, or ``None`` when downloads are proxied."""
        if self.proxy_downloads:
            return None
        params: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": self.key(job_id, name),
            "ResponseContentType": content_type,
            "ResponseContentDisposition": _attachment(filename),
        }
        with translated("sign a download link"):
            url = self.public_client.generate_presigned_url(
                "get_object", Params=params, ExpiresIn=self.link_seconds
            )
        return DownloadLink(url)

    def link_origin(self) -> str | None:
        """Where presigned links lead (the public endpoint's origin), or ``None`` when proxied."""
        if self.proxy_downloads:
            return None
        url = urlsplit(self.public_client.meta.endpoint_url)
        return f"{url.scheme}://{url.netloc}"

    def check(self) -> None:
        """HEAD the bucket: wrong credentials or a missing bucket fail here, at start-up."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            cause = what_failed(e)
            if isinstance(e, botocore.exceptions.ClientError) and cause in _CONFIG_CODES:
                status = status_of(e)
                if status == 404 or cause in ("NoSuchBucket", "404"):
                    problem = f"bucket {self.bucket!r} does not exist"
                else:
                    problem = (
                        f"the store refused our credentials for bucket {self.bucket!r} "
                        "(check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and the bucket policy)"
                    )
                raise StorageConfigError(f"Object storage: {problem}.") from None
            if isinstance(e, botocore.exceptions.NoCredentialsError):
                raise StorageConfigError(
                    "Object storage: no credentials; set AWS_ACCESS_KEY_ID and "
                    "AWS_SECRET_ACCESS_KEY."
                ) from None
            raise StorageConfigError(
                f"Object storage: could not reach the store at MRIMESH_S3_ENDPOINT ({cause})."
            ) from None

    def stored_jobs(self) -> dict[str, float]:
        """Job ids under ``jobs/`` with their newest object's time, from one listing."""
        found: dict[str, float] = {}
        with translated("list the stored jobs"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=KEY_PREFIX
            )
            for page in pages:
                for entry in page.get("Contents", []):
                    job_id = entry["Key"][len(KEY_PREFIX) :].split("/", 1)[0]
                    if is_job_id(job_id):
                        written = entry["LastModified"].timestamp()
                        found[job_id] = max(found.get(job_id, 0.0), written)
        return found

    # -- bucket set-up (operators, tests) --------------------------------------------------
    def configure_bucket(
        self, *, origins: list[str], lifecycle_days: int = DEFAULT_LIFECYCLE_DAYS
    ) -> None:
        """Let the page at ``origins`` read links cross-origin; expire forgotten objects."""
        with translated("configure the bucket"):
            self.client.put_bucket_cors(
                Bucket=self.bucket,
                CORSConfiguration={
                    "CORSRules": [
                        {
                            "AllowedMethods": ["GET", "HEAD"],
                            "AllowedOrigins": origins,
                            "AllowedHeaders": ["*"],
                            "ExposeHeaders": [
                                "Content-Length",
                                "Content-Range",
                                "Content-Disposition",
                                "ETag",
                            ],
                            "MaxAgeSeconds": 600,
                        }
                    ]
                },
            )
            self.client.put_bucket_lifecycle_configuration(
                Bucket=self.bucket,
                LifecycleConfiguration={
                    "Rules": [
                        {
                            "ID": "mrimesh-backstop",
                            "Status": "Enabled",
                            "Filter": {"Prefix": KEY_PREFIX},
                            "Expiration": {"Days": lifecycle_days},
                            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                        }
                    ]
                },
            )

    def _keys(self, prefix: str) -> list[str]:
        keys = []
        with translated("list a job's files"):
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            ):
                keys.extend(entry["Key"] for entry in page.get("Contents", []))
        return keys


def _attachment(filename: str) -> str:
    """``Content-Disposition`` for a download of ``filename`` (ASCII, quoted, RFC 6266)."""
    safe = "".join(c for c in filename if c.isascii() and (c.isalnum() or c in "._-")) or "file"
    return f"attachment; filename=\"{safe}\"; filename*=UTF-8''{quote(safe)}"


def main(argv: list[str] | None = None) -> int:
    """``configure-bucket``: CORS for the page's origins and the lifecycle backstop rule."""
    parser = argparse.ArgumentParser(prog="python -m mrimesh.storage_s3", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    configure = commands.add_parser("configure-bucket", help="set CORS and the lifecycle rule")
    configure.add_argument(
        "--origin",
        action="append",
        required=True,
        help="origin of the page (e.g. https://mrimesh.example.org); repeat for several",
    )
    configure.add_argument("--days", type=int, default=DEFAULT_LIFECYCLE_DAYS)
    commands.add_parser("check", help="check the bucket and credentials, as start-up does")
    args = parser.parse_args(argv)
    settings = Settings.from_env(storage="s3")
    try:
        storage = S3Storage.from_settings(settings)
        storage.check()
        if args.command == "configure-bucket":
            storage.configure_bucket(origins=args.origin, lifecycle_days=args.days)
    except StorageError as e:
        print(f"mrimesh: {e}", file=sys.stderr)
        return 2
    print(f"bucket {settings.s3_bucket!r}: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
