"""Job ids: how they are made and recognised. A job's files are objects named by its id in the
file store (:mod:`mrimesh.storage`), never by user text."""

from __future__ import annotations

import errno
import re
import uuid

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
