"""The Dramatiq actor: one job id in, a result zip out. Safe to run twice.

Run with ``python -m gpu_worker.worker`` (one process, one thread, prefetch 1).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import dramatiq
import torch

from gpu_worker.broker import settings
from gpu_worker.pipeline.errors import InputError
from gpu_worker.pipeline.options import PipelineOptions
from gpu_worker.pipeline.package import package_results
from gpu_worker.pipeline.run import run_pipeline
from gpu_worker.progress import Cancelled
from mrimesh.contract import ACTOR_NAME, QUEUE_NAME
from mrimesh.paths import JobPaths

logger = logging.getLogger(__name__)

#: Report fields copied into the job record for ``/status``.
_SUMMARY_KEYS = ("structures", "input", "model", "device", "notes")


@dramatiq.actor(
    actor_name=ACTOR_NAME,
    queue_name=QUEUE_NAME,
    throws=(InputError, Cancelled),  # retries and their back-off: the broker's Retries
)
def process_job(job_id: str) -> dict[str, Any]:
    """Turn the job's upload into meshes and a result zip.

    Each attempt starts from an empty work folder and replaces the zip atomically, so a
    redelivered message overwrites rather than duplicates. The upload is deleted once the zip
    exists: no patient data is kept beyond what the job needs.
    """
    paths = JobPaths(settings.jobs_dir, job_id)
    upload = paths.find_upload()
    if upload is None:
        raise InputError(
            "The uploaded file is no longer available; please upload it again.",
            code="input_missing",
        )
    report = _run_with_cpu_fallback(upload, paths)
    package_results(paths.work_dir, paths.result_zip)
    shutil.rmtree(paths.work_dir, ignore_errors=True)
    shutil.rmtree(paths.input_dir, ignore_errors=True)
    return {
        "result": {key: report[key] for key in _SUMMARY_KEYS if key in report},
        "steps": report.get("steps", {}),
        "voxels": (report.get("input") or {}).get("voxels", 1),
    }


def _run_with_cpu_fallback(upload: Path, paths: JobPaths) -> dict[str, Any]:
    """Run the pipeline on the configured device; on CUDA out-of-memory, once more on the CPU.

    A scan too large for the GPU's free memory still completes (slower) instead of failing.
    """
    shutil.rmtree(paths.work_dir, ignore_errors=True)
    try:
        return run_pipeline(upload, paths.work_dir, settings=settings)
    except torch.cuda.OutOfMemoryError:
        logger.warning("CUDA out of memory; running this job again on the CPU")
        torch.cuda.empty_cache()
        shutil.rmtree(paths.work_dir, ignore_errors=True)
        report = run_pipeline(
            upload, paths.work_dir, options=PipelineOptions(device="cpu"), settings=settings
        )
        report.setdefault("notes", []).append(
            "The GPU ran out of memory for this scan; it was processed on the CPU instead."
        )
        return report
