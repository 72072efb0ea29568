"""The imaging pipeline: MRI volume in, meshes + segmentation + report out.

Steps (each a plain function in its own module, each reporting progress through
:func:`gpu_worker.progress.report_step`): :mod:`.load` -> :mod:`.preprocess` -> :mod:`.segment`
-> :mod:`.postprocess` -> :mod:`.meshing` -> :mod:`.export` -> :mod:`.package`.

The names below are imported on first use, so that a meshing helper process, which imports
only :mod:`.meshing`, never loads torch or MONAI.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gpu_worker.pipeline.errors import InputError
    from gpu_worker.pipeline.models import preload
    from gpu_worker.pipeline.options import PipelineOptions
    from gpu_worker.pipeline.package import package_results
    from gpu_worker.pipeline.run import run_pipeline

_EXPORTS = {
    "InputError": "gpu_worker.pipeline.errors",
    "PipelineOptions": "gpu_worker.pipeline.options",
    "package_results": "gpu_worker.pipeline.package",
    "preload": "gpu_worker.pipeline.models",
    "run_pipeline": "gpu_worker.pipeline.run",
}

__all__ = ["InputError", "PipelineOptions", "package_results", "preload", "run_pipeline"]


def __getattr__(name: str) -> object:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
