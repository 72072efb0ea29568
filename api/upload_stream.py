"""A request class that streams uploaded files straight to the data disk, and to the store.

Werkzeug parses multipart bodies chunk by chunk; we hand it a temporary file inside the data
directory, so an upload is never held whole in memory. When the job store can take a file while
it is still being written (S3: :meth:`~mrimesh.storage.JobStorage.streaming_put`), the file is
wrapped so each part goes to the store as soon as it is on disk; the upload view completes that
put only after its checks, and a refused or broken upload aborts it (at the latest when the
request closes), so the bucket never shows half an upload. With the local folder, the view
hard-links the finished file into place instead.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from functools import cached_property
from pathlib import Path
from typing import IO, Any

from flask import Request, current_app

from api.extensions import get_services
from mrimesh import limits
from mrimesh.paths import new_job_id
from mrimesh.storage import StreamingPut, input_name

#: Bytes taken from the server at a time for a large request body.
BODY_READ_BYTES = 1024**2


class _RawBody(io.RawIOBase):
    """The server's ``wsgi.input`` as a raw stream (for :class:`io.BufferedReader`)."""

    def __init__(self, body: IO[bytes]):
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._body.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class BufferedBodies:
    """WSGI middleware: a large request body is taken from the server a megabyte at a time.

    Werkzeug's multipart parser reads 64 KiB at a time. Each such read from gunicorn's body
    copies what gunicorn has read ahead (up to a megabyte) twice over, which made receiving a
    1 GiB upload cost more CPU than parsing it; a :class:`io.BufferedReader` in between hands
    the parser its 64 KiB out of one large read.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]]):
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > BODY_READ_BYTES:
            environ["wsgi.input"] = io.BufferedReader(
                _RawBody(environ["wsgi.input"]), BODY_READ_BYTES
            )
        return self.app(environ, start_response)


class UploadFile:
    """The temporary file an upload is written to, telling its :class:`StreamingPut` each time
    another part's worth of bytes is on disk; everything else is the file's own."""

    def __init__(self, file: IO[bytes], put: StreamingPut):
        self._file = file
        self.put = put
        self._size = 0
        self._next = put.part_bytes

    def write(self, data: bytes) -> int:
        """Write ``data``; past each part's worth, flush and let the put send what it can."""
        written = self._file.write(data)
        self._size += written
        if self._size >= self._next:
            self._file.flush()
            self.put.grown(self._size)
            self._next = (self._size // self.put.part_bytes + 1) * self.put.part_bytes
        return written

    def complete(self) -> int:
        """The upload is accepted: finish the put (the object appears whole); returns the size."""
        self._file.flush()
        self.put.complete(self._size)
        return self._size

    def close(self) -> None:
        """Close the file; a put not completed by now is aborted."""
        self.put.abort()
        self._file.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)


class StreamingUploadRequest(Request):
    """Flask request whose file parts are written to ``UPLOAD_TMP_DIR`` (and to the store)."""

    @cached_property
    def upload_job_id(self) -> str:
        """The id of the job this request's upload becomes (chosen before its body is read)."""
        return new_job_id()

    @cached_property
    def _streamed(self) -> list[UploadFile]:
        return []

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        tmp_dir = Path(current_app.config["UPLOAD_TMP_DIR"])
        tmp_dir.mkdir(parents=True, exist_ok=True)
        file = tempfile.NamedTemporaryFile(  # noqa: SIM115 - Werkzeug closes it with the request
            "wb+", dir=tmp_dir, prefix="upload-", suffix=".part"
        )
        accepted = limits.input_kind(filename) if filename else None
        if accepted is None or self._streamed:  # only the first scan: the view reads one
            return file
        put = get_services().storage.streaming_put(
            self.upload_job_id, input_name(accepted[0]), Path(file.name)
        )
        if put is None:
            return file
        streamed = UploadFile(file, put)
        self._streamed.append(streamed)
        return streamed  # type: ignore[return-value]  # a file in every way the parser uses

    def close(self) -> None:
        """Close every upload file, aborting the store's put of any the view did not complete
        (a refusal, or a body cut short while parsing, when Werkzeug never lists the file)."""
        for streamed in self.__dict__.get("_streamed", ()):
            streamed.close()
        super().close()


def store_upload(stream: IO[bytes], destination: Path) -> int:
    """Move an uploaded stream to ``destination`` (hard link when possible); returns its size."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    stream.flush()
    source = getattr(stream, "name", None)
    if isinstance(source, str) and os.path.exists(source):
        try:
            os.link(source, destination)
            return destination.stat().st_size
        except OSError:
            pass
    stream.seek(0)
    partial = destination.with_name(destination.name + ".part")
    with partial.open("wb") as out:
        shutil.copyfileobj(stream, out, length=1024**2)
    os.replace(partial, destination)
    return destination.stat().st_size
