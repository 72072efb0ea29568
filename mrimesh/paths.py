"""Where a job's files live. Every path derives from the job id, never from user text."""

from __future__ import annotations

import errno
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

_UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def new_job_id() -> str:
    """A fresh random job id (the id is the capability to see the job)."""
    return str(uuid.uuid4())


def is_job_id(text: str) -> bool:
    """True when ``text`` is a lowercase UUID4, the only shape of job id we issue."""
    return bool(_UUID4.match(text))


def is_disk_full(error: BaseException) -> bool:
    """True when ``error`` says the data disk (or the user's quota on it) is full."""
    return isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)


@dataclass(frozen=True)
class JobPaths:
    """The folder layout of one job under ``<data_dir>/jobs/<job_id>/``."""

    jobs_dir: Path
    job_id: str

    def __post_init__(self) -> None:
        if not is_job_id(self.job_id):
            raise ValueError(f"not a job id: {self.job_id!r}")

    @property
    def root(self) -> Path:
        """The job's folder."""
        return self.jobs_dir / self.job_id

    @property
    def input_dir(self) -> Path:
        """Holds the upload, stored as ``upload<suffix>`` (the original name is not kept)."""
        return self.root / "input"

    def upload(self, suffix: str) -> Path:
        """Path of the uploaded file with the accepted ``suffix`` (e.g. ``.nii.gz``)."""
        return self.input_dir / f"upload{suffix}"

    def find_upload(self) -> Path | None:
        """The stored upload, whatever its suffix."""
        if not self.input_dir.is_dir():
            return None
        found = sorted(p for p in self.input_dir.iterdir() if p.name.startswith("upload"))
        return found[0] if found else None

    @property
    def work_dir(self) -> Path:
        """Scratch folder of the current attempt; rebuilt from scratch on each attempt."""
        return self.root / "work"

    @property
    def result_zip(self) -> Path:
        """The finished download; written under a temporary name and renamed into place."""
        return self.root / "result.zip"

    def remove(self) -> None:
        """Delete everything the job stored."""
        shutil.rmtree(self.root, ignore_errors=True)
