"""The imaging pipeline: MRI volume in, meshes + segmentation + report out.

Steps (each a plain function in its own module, each reporting progress through
:func:`gpu_worker.progress.report_step`): :mod:`.load` -> :mod:`.preprocess` -> :mod:`.segment`
-> :mod:`.postprocess` -> :mod:`.meshing` -> :mod:`.export` -> :mod:`.package`.
"""

from __future__ import annotations

from gpu_worker.pipeline.errors import InputError
from gpu_worker.pipeline.models import preload
from gpu_worker.pipeline.options import PipelineOptions
from gpu_worker.pipeline.package import package_results
from gpu_worker.pipeline.run import run_pipeline

__all__ = ["InputError", "PipelineOptions", "package_results", "preload", "run_pipeline"]
