"""Step 2, "Preparing": RAS orientation, isotropic resampling and intensity scaling with MONAI.

The result lives on the inference device. Its affine maps the working grid to the same world
(mm) coordinates as the input, so every later output can be placed back in the input's space.
"""

from __future__ import annotations

import numpy as np
import torch
from monai.data import MetaTensor
from monai.transforms import Orientation, ScaleIntensityRange, Spacing

from gpu_worker.pipeline.defaults import (
    DEFAULT_INTENSITY_PERCENTILES,
    DEFAULT_PERCENTILE_SAMPLE_VOXELS,
    DEFAULT_SPACING_TOLERANCE,
    DEFAULT_WORK_SPACING_MM,
)
from gpu_worker.pipeline.types import Prepared, Scan
from gpu_worker.progress import report_step
from mrimesh.contract import Step

_STEP = Step.PREPARING.value
_RAS_LABELS = (("L", "R"), ("P", "A"), ("I", "S"))


def robust_range(image: torch.Tensor, percentiles: tuple[float, float]) -> tuple[float, float]:
    """Intensity ``percentiles`` (0..100) of ``image``, from a regular subsample if it is large."""
    flat = image.reshape(-1)
    stride = max(1, flat.numel() // DEFAULT_PERCENTILE_SAMPLE_VOXELS)
    sample = flat[::stride].float()
    q = torch.quantile(sample, torch.tensor(percentiles, device=sample.device) / 100.0)
    lo, hi = (float(v) for v in q.tolist())
    if hi <= lo:
        lo, hi = float(sample.min()), float(sample.max())
    return lo, hi


def prepare(
    scan: Scan,
    device: torch.device | str = "cpu",
    work_spacing_mm: float = DEFAULT_WORK_SPACING_MM,
    percentiles: tuple[float, float] = DEFAULT_INTENSITY_PERCENTILES,
) -> Prepared:
    """Reorient ``scan`` to RAS, resample it to ``work_spacing_mm`` isotropic voxels if needed,
    and map its ``percentiles`` to 0 and 1 (not clipped: the tissue model needs the bright tail;
    the networks clip for themselves)."""
    report_step(_STEP, 0.0)
    device = torch.device(device)
    image = MetaTensor(
        torch.from_numpy(scan.data)[None].to(device),
        affine=torch.as_tensor(scan.affine, dtype=torch.float64),
    )
    image = Orientation(axcodes="RAS", labels=_RAS_LABELS)(image)
    report_step(_STEP, 0.2)
    zooms = np.linalg.norm(scan.affine[:3, :3], axis=0)
    resample = bool(np.any(np.abs(zooms / work_spacing_mm - 1.0) > DEFAULT_SPACING_TOLERANCE))
    if resample:
        spacing = Spacing(pixdim=(work_spacing_mm,) * 3, mode="bilinear", padding_mode="zeros")
        image = spacing(image, dtype=torch.float32)
    report_step(_STEP, 0.7)
    lo, hi = robust_range(image.as_tensor(), percentiles)
    image = ScaleIntensityRange(a_min=lo, a_max=hi, b_min=0.0, b_max=1.0, clip=False)(image)
    affine = np.asarray(image.affine.cpu().numpy(), dtype=np.float64)
    data = image.as_tensor()[0].to(device=device, dtype=torch.float32).contiguous()
    report_step(_STEP, 1.0)
    return Prepared(image=data, affine=affine, resampled=resample)
