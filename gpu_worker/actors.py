"""The Dramatiq actor: one job id in, a result zip out. Safe to run twice.

Run with ``python -m gpu_worker.worker`` (one process, one thread, prefetch 1).

The worker shares nothing with the API but Redis and the file store (:mod:`mrimesh.storage`): it
fetches the upload into its own scratch folder (``<MRIMESH_DATA_DIR>/scratch/<job_id>/``), runs the
pipeline there, puts the files the page reads (``files/<name>``) and then the result zip into the
store, and only then returns, so a job is never completed without its zip. Completing the job
(:meth:`mrimesh.lifecycle.Lifecycle.complete`) deletes the upload; the worker cleans only its
own scratch.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import dramatiq
import torch

from gpu_worker.broker import settings
from gpu_worker.pipeline.errors import InputError
from gpu_worker.pipeline.meshing.reuse import reusable_files
from gpu_worker.pipeline.options import PipelineOptions
from gpu_worker.pipeline.package import package_results
from gpu_worker.pipeline.result_files import BRAIN_FILE, LABELS_FILE, REPORT_FILE
from gpu_worker.pipeline.run import run_pipeline
from gpu_worker.progress import Cancelled, step
from mrimesh.contract import ACTOR_NAME, QUEUE_NAME, REMAKE_ACTOR_NAME, Step
from mrimesh.errors import ErrorCode
from mrimesh.outcome import JobOutcome
from mrimesh.paths import is_job_id
from mrimesh.print_options import (
    OPTIONS_OBJECT,
    InvalidOption,
    PrintOptions,
    read_options_document,
)
from mrimesh.storage import (
    FILES_PREFIX,
    INPUT_PREFIX,
    RESULT_ZIP,
    JobStorage,
    ObjectMissing,
    open_storage,
    result_file_name,
)

logger = logging.getLogger(__name__)

#: Report fields copied into the job record for ``/status``.
_SUMMARY_KEYS = ("structures", "input", "model", "device", "notes", "print", "print_options")
#: Folder of the pipeline's output (``<out_dir>/files/``) whose files become ``files/<name>``.
_FILES_DIR = FILES_PREFIX.rstrip("/")

_storage: JobStorage | None = None


def storage() -> JobStorage:
    """This process's file store, opened on first use (``python -m gpu_worker.worker`` checked
    its settings before the worker started)."""
    global _storage
    if _storage is None:
        _storage = open_storage(settings)
    return _storage


@dramatiq.actor(
    actor_name=ACTOR_NAME,
    queue_name=QUEUE_NAME,
    throws=(InputError, Cancelled),  # expected ends of an attempt; retries: mrimesh.lifecycle
)
def process_job(job_id: str) -> JobOutcome:
    """Turn the job's upload into meshes and a result zip in the file store.

    Each attempt starts from an empty scratch folder and overwrites the job's stored results, so
    a redelivered message (on this host or another) overwrites rather than duplicates. The
    upload stays until the job is completed (a retry after a crash still finds it); then the
    lifecycle deletes it. A :class:`~mrimesh.storage.StorageError` is transient and retried
    like any other error.
    """
    store = storage()
    scratch = scratch_folder(job_id)
    try:
        upload = _fetch_upload(store, job_id, scratch)
        print_options, _ = _fetch_options(store, job_id, scratch)
        work_dir = scratch / "work"
        report = _run_with_cpu_fallback(upload, work_dir, print_options)
        _store_results(store, job_id, work_dir, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return _outcome(report)


@dramatiq.actor(
    actor_name=REMAKE_ACTOR_NAME,
    queue_name=QUEUE_NAME,
    throws=(InputError, Cancelled),
)
def remake_job(job_id: str) -> JobOutcome:
    """Re-make an earlier job's pieces with new print options (issue 11): no segmentation.

    The new job's store holds the options and the id of the job it starts from; that job's
    label map, brain-only scan and report are fetched from its own stored ``files/``. Its
    results are stored exactly like a scan's, so status, ETA and download work the same.
    """
    from gpu_worker.pipeline.remake import remake

    store = storage()
    scratch = scratch_folder(job_id)
    try:
        with step(Step.LOADING_LABELS):
            print_options, source_job = _fetch_options(store, job_id, scratch)
            if source_job is None:
                raise InputError(
                    "This re-make does not say which job it starts from.", "not_remakeable"
                )
            source = scratch / "source"
            for name in (LABELS_FILE, REPORT_FILE, BRAIN_FILE):  # what a re-make starts from
                try:
                    store.fetch(source_job, f"{FILES_PREFIX}{name}", source / _FILES_DIR / name)
                except ObjectMissing:
                    if name != BRAIN_FILE:
                        raise InputError(
                            "The job to re-make is no longer available (expired or deleted); "
                            "upload the scan again.",
                            code="not_remakeable",
                        ) from None
            _fetch_reusable_meshes(store, source_job, source / _FILES_DIR)
        work_dir = scratch / "work"
        report = remake(source, work_dir, PipelineOptions.from_print(print_options), settings)
        _store_results(store, job_id, work_dir, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return _outcome(report)


def _fetch_reusable_meshes(store: JobStorage, source_job: str, folder: Path) -> None:
    """Fetch the earlier job's page meshes a re-make may reuse (the first of each piece's
    formats that is stored); a missing one is meshed again, so nothing here is required."""
    try:
        report = json.loads((folder / REPORT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    for names in reusable_files(report):
        for name in names:
            try:
                store.fetch(source_job, f"{FILES_PREFIX}{name}", folder / name)
                break
            except ObjectMissing:
                continue


def _fetch_options(
    store: JobStorage, job_id: str, scratch: Path
) -> tuple[PrintOptions, str | None]:
    """The job's print options (defaults when none were stored) and, for a re-make, its source."""
    local = scratch / OPTIONS_OBJECT
    try:
        store.fetch(job_id, OPTIONS_OBJECT, local)
    except ObjectMissing:
        return PrintOptions(), None
    try:
        return read_options_document(json.loads(local.read_text(encoding="utf-8")))
    except (ValueError, InvalidOption) as e:
        raise InputError(f"The print options are not valid: {e}", code="invalid_option") from e


def _store_results(store: JobStorage, job_id: str, work_dir: Path, scratch: Path) -> None:
    """Zip the results and put the page's files, then the zip, into the store."""
    with step(Step.PACKAGING):
        zip_path = package_results(work_dir, scratch / RESULT_ZIP)
        for name, path in result_files(work_dir):
            store.put(job_id, name, path)
        store.put(job_id, RESULT_ZIP, zip_path)  # last: the zip's presence means "all stored"


def _outcome(report: dict[str, Any]) -> JobOutcome:
    return JobOutcome(
        voxels=int((report.get("input") or {}).get("voxels") or 1),
        summary={key: report[key] for key in _SUMMARY_KEYS if key in report},
    )


def scratch_folder(job_id: str) -> Path:
    """An empty ``<scratch>/<job_id>/``; leftovers of this job and stale ones of others go first."""
    if not is_job_id(job_id):
        raise ValueError(f"not a job id: {job_id!r}")
    root = settings.scratch_dir
    _sweep_stale_scratch(root)
    folder = root / job_id
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def _sweep_stale_scratch(root: Path) -> None:
    """Remove scratch folders no attempt can still be using (their worker died mid-job)."""
    if not root.is_dir():
        return
    cutoff = time.time() - 2 * settings.job_time_limit_seconds
    for folder in root.iterdir():
        try:
            if folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
        except FileNotFoundError:
            continue


def _fetch_upload(store: JobStorage, job_id: str, scratch: Path) -> Path:
    """Copy the stored upload into scratch, keeping its suffix (the loader reads it)."""
    uploads = [name for name in store.names(job_id) if name.startswith(INPUT_PREFIX)]
    missing = InputError(code=ErrorCode.INPUT_MISSING)
    if not uploads:
        raise missing
    name = uploads[0]
    local = scratch / "input" / Path(name).name
    try:
        store.fetch(job_id, name, local)
    except ObjectMissing:
        raise missing from None
    return local


def result_files(out_dir: Path) -> list[tuple[str, Path]]:
    """``(object name, file)`` for each file the results page reads one by one.

    The pipeline writes them to ``<out_dir>/files/``; until it does, the zip's own files (the
    meshes, the segmentation and report.json directly in ``out_dir``) are stored instead.
    Names that are not a slug with a known suffix are left out (they stay in the zip).
    """
    files_dir = out_dir / _FILES_DIR
    folder = files_dir if files_dir.is_dir() else out_dir
    found = []
    for path in sorted(folder.iterdir()):
        name = result_file_name(path.name) if path.is_file() else None
        if name is not None:
            found.append((name, path))
    return found


def _run_with_cpu_fallback(
    upload: Path, work_dir: Path, print_options: PrintOptions | None = None
) -> dict[str, Any]:
    """Run the pipeline on the configured device; on CUDA out-of-memory, once more on the CPU.

    A scan too large for the GPU's free memory still completes (slower) instead of failing.
    """
    print_options = print_options or PrintOptions()
    shutil.rmtree(work_dir, ignore_errors=True)
    try:
        options = PipelineOptions.from_print(print_options)
        return run_pipeline(upload, work_dir, options=options, settings=settings)
    except torch.cuda.OutOfMemoryError:
        logger.warning("CUDA out of memory; running this job again on the CPU")
        torch.cuda.empty_cache()
        shutil.rmtree(work_dir, ignore_errors=True)
        report = run_pipeline(
            upload,
            work_dir,
            options=PipelineOptions.from_print(print_options, device="cpu"),
            settings=settings,
        )
        report.setdefault("notes", []).append(
            "The GPU ran out of memory for this scan; it was processed on the CPU instead."
        )
        return report
