"""Which device and which segmenter a process uses; each segmenter is loaded once per process."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import torch

from gpu_worker.pipeline.bundle import DEFAULT_BUNDLE_DIR, BundleError, read_bundle
from gpu_worker.pipeline.cores import cpu_cores
from gpu_worker.pipeline.meshing.mesh_pool import start_helpers
from gpu_worker.pipeline.runners import RUNNERS, Segmenter
from mrimesh.config import Settings

logger = logging.getLogger(__name__)


def resolve_device(setting: str) -> torch.device:
    """``"auto"`` (or empty) -> cuda when available, else cpu; anything else as torch spells it."""
    if setting in ("", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(setting)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {setting!r} requested but CUDA is not available")
    return device


def bundle_dir(setting: str) -> Path:
    """The bundle folder ``Settings.model_bundle`` names, or the built-in deepbet bundle."""
    return Path(setting).expanduser().resolve() if setting else DEFAULT_BUNDLE_DIR


def _use_all_cores() -> None:
    cores = cpu_cores()
    if torch.get_num_threads() != cores:
        torch.set_num_threads(cores)


@functools.cache
def get_segmenter(bundle_path: str, device: str) -> Segmenter:
    """The segmenter for ``bundle_path`` on ``device``, built on first use and then reused."""
    bundle = read_bundle(bundle_path)
    try:
        runner = RUNNERS[bundle.runner]
    except KeyError as e:
        raise BundleError(f"{bundle.path}: unknown mrimesh_runner {bundle.runner!r}") from e
    torch_device = torch.device(device)
    if torch_device.type == "cpu":
        _use_all_cores()
    logger.info("loading model bundle %s on %s", bundle.path, torch_device)
    return runner(bundle, torch_device)


def segmenter_for(settings: Settings, device: str | None = None) -> Segmenter:
    """The cached segmenter these settings select (``device`` overrides ``settings.device``)."""
    torch_device = resolve_device(device or settings.device)
    return get_segmenter(str(bundle_dir(settings.model_bundle)), str(torch_device))


def preload(settings: Settings, warmup: bool = True) -> None:
    """Load the configured model once, after the worker process has booted (never at import).

    With ``warmup`` the networks also run once on dummy input of the working size, so the first
    job does not pay for memory allocation and kernel selection. The meshing helper processes
    start here too.
    """
    segmenter = segmenter_for(settings)
    if warmup:
        segmenter.warmup()
    start_helpers(settings.mesh_processes)
