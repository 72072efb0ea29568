"""Where a job's files are kept between processes: one interface, chosen by configuration.

Every process that stores or reads a job's files (the API's upload and download, the worker,
the lifecycle's clean-up) goes through :class:`JobStorage`. Objects are named by the job id and
one of the fixed names below, never by user text. Back ends:

* :class:`LocalStorage` (default): ``<MRIMESH_DATA_DIR>/jobs/<job_id>/<name>``; for one host,
  or hosts that share a POSIX file system (NFS).
* ``MRIMESH_STORAGE=s3``: an S3-compatible bucket (:mod:`mrimesh.storage_s3`), for hosts that
  share nothing but Redis and the bucket.

Each worker keeps its own local scratch (``<MRIMESH_DATA_DIR>/scratch/<job_id>/``), which is
never shared.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from mrimesh.config import Settings
from mrimesh.paths import is_job_id

#: Object name of the result zip.
RESULT_ZIP = "result.zip"
#: Prefix of the upload's object name; the suffix is one of the accepted input suffixes.
INPUT_PREFIX = "input/upload"
#: Folder of the files the results page reads one by one (``files/brain.nii.gz``, ...).
FILES_PREFIX = "files/"
#: Storage back ends ``MRIMESH_STORAGE`` may name.
BACKENDS = ("local", "s3")

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*(/[a-z0-9][a-z0-9_.-]*)*$")
#: A result file's name: a lowercase slug and a known suffix, nothing else (no folders).
_FILE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}\.(nii\.gz|glb|stl|obj|ply|3mf|json)$")

#: Media type of each result file suffix.
FILE_TYPES = {
    ".nii.gz": "application/gzip",
    ".glb": "model/gltf-binary",
    ".stl": "model/stl",
    ".obj": "model/obj",
    ".ply": "application/octet-stream",
    ".3mf": "model/3mf",
    ".json": "application/json",
    ".zip": "application/zip",
}


class StorageError(Exception):
    """The store could not be reached or refused the operation (transient for the caller).

    Its text is written for people and never holds an address, key or credential.
    """


class StorageConfigError(StorageError):
    """The store's settings are wrong (bucket missing, credentials refused): fix, then restart."""


class ObjectMissing(StorageError):  # noqa: N818 - reads as the condition
    """The named object does not exist (any more)."""


def check_name(job_id: str, name: str) -> None:
    """Refuse a job id or object name that is not one we build ourselves."""
    if not is_job_id(job_id):
        raise ValueError(f"not a job id: {job_id!r}")
    if not _NAME.match(name) or ".." in name:
        raise ValueError(f"not an object name: {name!r}")


def input_name(suffix: str) -> str:
    """Object name of the upload with an accepted ``suffix`` such as ``.nii.gz``."""
    return f"{INPUT_PREFIX}{suffix}"


def result_file_name(name: str) -> str | None:
    """The object name of result file ``name`` (``files/<name>``), or ``None`` if not one of ours.

    ``name`` may come from a URL: only a slug with a known suffix passes, so no path, dot-dot or
    other text ever reaches an object key.
    """
    return f"{FILES_PREFIX}{name}" if _FILE_NAME.fullmatch(name) else None


def media_type(name: str) -> str:
    """The media type a stored file is served with."""
    for suffix, kind in FILE_TYPES.items():
        if name.endswith(suffix):
            return kind
    return "application/octet-stream"


@dataclass(frozen=True)
class DownloadLink:
    """Where a browser fetches an object: a URL, or ``None`` to stream it through the API."""

    url: str


class StreamingPut(Protocol):
    """An object being stored while its file is still being written (an upload as it arrives):
    it becomes visible whole on :meth:`complete`, or not at all."""

    #: bytes it sends at a time: :meth:`grown` need not be called more often
    part_bytes: int

    def grown(self, size: int) -> None:
        """The file now holds ``size`` bytes (flushed): store what can be stored already."""

    def complete(self, size: int) -> None:
        """The file is whole at ``size`` bytes: store the rest and make the object visible."""

    def abort(self) -> None:
        """Give up: nothing of the object is left in the store (idempotent)."""


class JobStorage(Protocol):
    """The operations every back end offers, all keyed by ``(job_id, name)``."""

    def put(self, job_id: str, name: str, source: Path) -> None:
        """Store ``source`` as the object; it becomes visible whole or not at all."""

    def fetch(self, job_id: str, name: str, destination: Path) -> None:
        """Copy the object to ``destination``; raises :class:`ObjectMissing`."""

    def exists(self, job_id: str, name: str) -> bool:
        """True when the object exists."""

    def names(self, job_id: str) -> list[str]:
        """Names of the job's objects, sorted."""

    def delete(self, job_id: str, name: str) -> None:
        """Delete one object (idempotent)."""

    def delete_job(self, job_id: str) -> None:
        """Delete every object of the job (idempotent)."""

    def local_path(self, job_id: str, name: str) -> Path | None:
        """A path the API may stream from, when the back end keeps files on this host."""

    def open(self, job_id: str, name: str) -> tuple[BinaryIO, int]:
        """The object as a stream to read once, and its size; raises :class:`ObjectMissing`."""

    def link(
        self, job_id: str, name: str, *, filename: str, content_type: str
    ) -> DownloadLink | None:
        """A short-lived link for browsers; ``None`` when the API must stream the bytes."""

    def link_origin(self) -> str | None:
        """The origin (``scheme://host:port``) links point at, for the page's CSP; or ``None``."""

    def check(self) -> None:
        """Raise :class:`StorageConfigError` unless the store is reachable and usable (start-up)."""

    def stored_jobs(self) -> dict[str, float]:
        """Every job that has objects, with when its newest object was written (epoch seconds):
        what the janitor sweeps for strays."""

    def streaming_put(self, job_id: str, name: str, path: Path) -> StreamingPut | None:
        """A put of the file at ``path`` that may start while the file is still being written,
        or ``None`` when :meth:`put` of the whole file costs nothing to wait for."""

    def abort_stale_puts(self, started_before: float) -> int:
        """Drop streamed puts begun before ``started_before`` (epoch seconds) that never
        completed (their process died); returns how many."""


class LocalStorage:
    """Objects as files under ``<jobs_dir>/<job_id>/``; atomic by rename."""

    def __init__(self, jobs_dir: Path):
        self.jobs_dir = Path(jobs_dir)

    def path(self, job_id: str, name: str) -> Path:
        """The file that holds the object."""
        check_name(job_id, name)
        return self.jobs_dir / job_id / name

    def put(self, job_id: str, name: str, source: Path) -> None:
        """Hard-link (or copy) ``source`` next to the object, then rename it into place."""
        target = self.path(job_id, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.part")
        partial.unlink(missing_ok=True)
        try:
            os.link(source, partial)
        except OSError:
            shutil.copyfile(source, partial)
        os.replace(partial, target)

    def fetch(self, job_id: str, name: str, destination: Path) -> None:
        """Hard-link (or copy) the object to ``destination``."""
        source = self.path(job_id, name)
        if not source.is_file():
            raise ObjectMissing(name)
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.unlink(missing_ok=True)
        try:
            os.link(source, destination)
        except OSError:
            shutil.copyfile(source, destination)

    def exists(self, job_id: str, name: str) -> bool:
        """True when the object's file exists."""
        return self.path(job_id, name).is_file()

    def names(self, job_id: str) -> list[str]:
        """Every stored file of the job, relative to its folder."""
        check_name(job_id, "x")
        root = self.jobs_dir / job_id
        if not root.is_dir():
            return []
        return sorted(
            p.relative_to(root).as_posix()
            for p in root.rglob("*")
            if p.is_file() and not p.name.startswith(".")
        )

    def delete(self, job_id: str, name: str) -> None:
        """Remove one file."""
        self.path(job_id, name).unlink(missing_ok=True)

    def delete_job(self, job_id: str) -> None:
        """Remove the job's folder."""
        check_name(job_id, "x")
        shutil.rmtree(self.jobs_dir / job_id, ignore_errors=True)

    def local_path(self, job_id: str, name: str) -> Path | None:
        """The object's file: the API streams it."""
        path = self.path(job_id, name)
        return path if path.is_file() else None

    def open(self, job_id: str, name: str) -> tuple[BinaryIO, int]:
        """The open file and its size."""
        try:
            stream = self.path(job_id, name).open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectMissing(name) from None
        return stream, os.fstat(stream.fileno()).st_size

    def link(
        self, job_id: str, name: str, *, filename: str, content_type: str
    ) -> DownloadLink | None:
        """Local files are streamed by the API."""
        return None

    def link_origin(self) -> str | None:
        """No links: the API serves local files itself."""
        return None

    def check(self) -> None:
        """Create the jobs folder; a local folder needs nothing else."""
        self.jobs_dir.mkdir(parents=True, exist_ok=True)

    def streaming_put(self, job_id: str, name: str, path: Path) -> StreamingPut | None:
        """None: :meth:`put` links the finished file into place at once."""
        return None

    def abort_stale_puts(self, started_before: float) -> int:
        """None here: a partial upload is a temporary file, which the janitor sweeps."""
        return 0

    def stored_jobs(self) -> dict[str, float]:
        """Job folders, by their modification time."""
        if not self.jobs_dir.is_dir():
            return {}
        found = {}
        for folder in self.jobs_dir.iterdir():
            if is_job_id(folder.name):
                try:
                    found[folder.name] = folder.stat().st_mtime
                except FileNotFoundError:
                    continue
        return found


def open_storage(settings: Settings) -> JobStorage:
    """The back end ``MRIMESH_STORAGE`` chooses; S3's client is imported only when chosen."""
    if settings.storage == "s3":
        from mrimesh.storage_s3 import S3Storage

        return S3Storage.from_settings(settings)
    if settings.storage != "local":
        raise StorageConfigError(
            f"MRIMESH_STORAGE must be one of {', '.join(BACKENDS)}, not {settings.storage!r}."
        )
    return LocalStorage(settings.jobs_dir)
