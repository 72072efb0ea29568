"""Step 3, "Segmenting": run the bundle's segmenter on the prepared volume."""

from __future__ import annotations

import time

import numpy as np

from gpu_worker.pipeline.runners import Segmenter
from gpu_worker.pipeline.types import Prepared, Segmentation
from gpu_worker.progress import report_fraction


def segment(prepared: Prepared, segmenter: Segmenter) -> Segmentation:
    """Label ``prepared`` with ``segmenter``; the labels come to the host once, at the end."""
    start = time.perf_counter()
    labels = segmenter.segment(prepared.image, lambda f: report_fraction(0.05 + 0.9 * f))
    host = labels.to("cpu").numpy().astype(np.uint8, copy=False)
    elapsed = time.perf_counter() - start
    return Segmentation(
        labels=host,
        affine=prepared.affine,
        names=segmenter.bundle.labels,
        structures=segmenter.bundle.structures,
        postprocess=segmenter.postprocess,
        inference_seconds=elapsed,
        inference_parts={k: round(v, 3) for k, v in segmenter.timings.items()},
    )
