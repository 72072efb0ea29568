"""An S3 multipart upload fed while its file is still being written (the API's upload).

The API writes an upload's body to a temporary file as it arrives. Waiting for the whole body
before putting it in the bucket makes the person wait for both in turn; instead, each full part
(``part_bytes``) goes up, from the file, as soon as it is on disk, while the rest is still
arriving. The object only appears when :meth:`S3StreamingPut.complete` is called (after the
upload's checks): S3 shows nothing of an unfinished multipart upload, and :meth:`abort` removes
its parts. A file smaller than one part never starts a multipart upload; it is put whole.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import TYPE_CHECKING

from s3transfer.utils import ReadFileChunk

from mrimesh.s3_errors import translated
from mrimesh.storage import StorageError

if TYPE_CHECKING:
    from mrimesh.storage_s3 import S3Storage


class S3StreamingPut:
    """One object, put in parts while its file grows (:class:`mrimesh.storage.StreamingPut`).

    :meth:`grown` is called by the writing thread; the parts go up in ``concurrency`` threads of
    their own, each reading its byte range from the file, so no part is held in memory whole.
    """

    def __init__(self, storage: S3Storage, key: str, path: Path):
        self._storage = storage
        self._client = storage.client
        self._bucket = storage.bucket
        self._key = key
        self._path = path
        self.part_bytes = storage.transfer.multipart_chunksize
        self._concurrency = max(storage.transfer.max_concurrency, 1)
        self._sent = 0  #: bytes handed to part uploads so far
        self._parts: list[Future[dict[str, object]]] = []
        self._upload_id: str | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._error: StorageError | None = None
        self._finished = False
        self._lock = threading.Lock()

    # -- while the file grows ------------------------------------------------------------
    def grown(self, size: int) -> None:
        """Send every whole part of the first ``size`` bytes not sent yet."""
        if self._finished or self._error is not None:
            return
        while size - self._sent >= self.part_bytes:
            if not self._start():
                return
            self._send_later(self._sent, self.part_bytes)
            self._sent += self.part_bytes

    def _start(self) -> bool:
        """Begin the multipart upload (once); False when the store refused."""
        if self._upload_id is not None:
            return True
        try:
            with translated("store a file"):
                answer = self._client.create_multipart_upload(Bucket=self._bucket, Key=self._key)
        except StorageError as e:
            self._error = e
            return False
        self._upload_id = str(answer["UploadId"])
        self._pool = ThreadPoolExecutor(self._concurrency, thread_name_prefix="s3-part")
        return True

    def _send_later(self, offset: int, length: int) -> None:
        assert self._pool is not None
        number = len(self._parts) + 1
        self._parts.append(self._pool.submit(self._send, number, offset, length))

    def _send(self, number: int, offset: int, length: int) -> dict[str, object]:
        """Upload bytes ``offset`` .. ``offset + length`` of the file as part ``number``."""
        with (
            ReadFileChunk.from_filename(str(self._path), offset, length) as body,
            translated("store a file"),
        ):
            answer = self._client.upload_part(
                Bucket=self._bucket,
                Key=self._key,
                UploadId=self._upload_id,
                PartNumber=number,
                Body=body,
            )
        return {"PartNumber": number, "ETag": answer["ETag"]}

    # -- the end ---------------------------------------------------------------------------
    def complete(self, size: int) -> None:
        """Send the rest of the file (``size`` bytes in all) and make the object visible.
        Raises :class:`StorageError` (after aborting) when any part could not be stored."""
        with self._lock:
            if self._finished:
                raise RuntimeError("this put has already ended")
            try:
                if self._upload_id is None and self._error is None:
                    self._storage.put_file(self._path, self._key)  # smaller than one part
                else:
                    self._complete_parts(size)
            except BaseException:
                self._abort()
                raise
            self._finished = True
            self._shut_down()

    def _complete_parts(self, size: int) -> None:
        if self._error is not None:
            raise self._error
        if size > self._sent:
            self._send_later(self._sent, size - self._sent)
            self._sent = size
        parts = [future.result() for future in self._parts]  # raises a part's StorageError
        with translated("store a file"):
            self._client.complete_multipart_upload(
                Bucket=self._bucket,
                Key=self._key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": parts},
            )

    def abort(self) -> None:
        """Drop every part sent (waiting for those under way); idempotent, never raises."""
        with self._lock:
            self._abort()

    def _abort(self) -> None:
        if self._finished:
            return
        self._finished = True
        for future in self._parts:
            future.cancel()
        wait(self._parts)
        self._shut_down()
        if self._upload_id is None:
            return
        try:
            with translated("drop an unfinished upload"):
                self._client.abort_multipart_upload(
                    Bucket=self._bucket, Key=self._key, UploadId=self._upload_id
                )
        except StorageError:  # the bucket's lifecycle rule and the janitor remove it later
            pass

    def _shut_down(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
