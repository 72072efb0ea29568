"""Step 3, "Segmenting": run the bundle's segmenter on the prepared volume."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from gpu_worker.pipeline.bundle import StructureSpec
from gpu_worker.pipeline.preprocess import Prepared
from gpu_worker.pipeline.runners import Segmenter
from gpu_worker.progress import report_step
from mrimesh.contract import Step

_STEP = Step.SEGMENTING.value


@dataclass
class Segmentation:
    """A label map in the working grid and what its labels mean."""

    labels: np.ndarray  #: (X, Y, Z) uint8, working grid
    affine: np.ndarray  #: working-grid voxel -> world mm
    names: dict[int, str]  #: label value -> name
    structures: tuple[StructureSpec, ...]  #: meshes the bundle asks for
    postprocess: str  #: "brain_tissue" or "per_label"
    inference_seconds: float = 0.0  #: time inside the segmenter (networks and tissue model)
    #: the segmenter's own breakdown of that time, e.g. networks vs tissue model
    inference_parts: dict[str, float] = field(default_factory=dict)
    #: remarks for the person who uploaded the scan (report.json "notes", shown on the page)
    notes: tuple[str, ...] = ()

    @property
    def voxel_ml(self) -> float:
        """Volume of one voxel, in mL."""
        return abs(float(np.linalg.det(self.affine[:3, :3]))) / 1000.0


def segment(prepared: Prepared, segmenter: Segmenter) -> Segmentation:
    """Label ``prepared`` with ``segmenter``; the labels come to the host once, at the end."""
    report_step(_STEP, 0.0)
    start = time.perf_counter()
    labels = segmenter.segment(prepared.image, lambda f: report_step(_STEP, 0.05 + 0.9 * f))
    host = labels.to("cpu").numpy().astype(np.uint8, copy=False)
    elapsed = time.perf_counter() - start
    report_step(_STEP, 1.0)
    return Segmentation(
        labels=host,
        affine=prepared.affine,
        names=segmenter.bundle.labels,
        structures=segmenter.bundle.structures,
        postprocess=segmenter.postprocess,
        inference_seconds=elapsed,
        inference_parts={k: round(v, 3) for k, v in segmenter.timings.items()},
    )
