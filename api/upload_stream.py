"""A request class that streams uploaded files straight to the data disk.

Werkzeug parses multipart bodies chunk by chunk; we hand it a temporary file inside the data
directory, so an upload is never held whole in memory. The upload view hard-links it under a name
with the right suffix, checks it, and puts it into the job storage (a hard link again for the
local folder, a multipart upload for S3).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import IO

from flask import Request, current_app


class StreamingUploadRequest(Request):
    """Flask request whose file parts are written to ``UPLOAD_TMP_DIR``."""

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        tmp_dir = Path(current_app.config["UPLOAD_TMP_DIR"])
        tmp_dir.mkdir(parents=True, exist_ok=True)
        return tempfile.NamedTemporaryFile("wb+", dir=tmp_dir, prefix="upload-", suffix=".part")


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
