"""Step 2, "Preparing": RAS orientation, isotropic resampling and intensity scaling, in torch.

The result lives on the inference device. Its affine maps the working grid to the same world
(mm) coordinates as the input, so every later output can be placed back in the input's space.

The geometry is MONAI's (``Orientation("RAS")``, then ``Spacing(pixdim, mode="bilinear",
padding_mode="zeros")``: same grid, same affine, same values; a test compares them), written in
plain torch because importing MONAI costs a fresh process more than the networks take.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - torch's own spelling

from gpu_worker.pipeline.defaults import (
    DEFAULT_INTENSITY_PERCENTILES,
    DEFAULT_PERCENTILE_SAMPLE_VOXELS,
    DEFAULT_SPACING_TOLERANCE,
    DEFAULT_WORK_SPACING_MM,
)
from gpu_worker.pipeline.quantiles import quantiles
from gpu_worker.pipeline.types import Prepared, Scan
from gpu_worker.progress import report_fraction

_RAS = nib.orientations.axcodes2ornt(("R", "A", "S"))


def robust_range(image: torch.Tensor, percentiles: tuple[float, float]) -> tuple[float, float]:
    """Intensity ``percentiles`` (0..100) of ``image``, from a regular subsample if it is large."""
    flat = image.reshape(-1)
    stride = max(1, flat.numel() // DEFAULT_PERCENTILE_SAMPLE_VOXELS)
    sample = flat[::stride].float()
    lo, hi = quantiles(sample, [p / 100.0 for p in percentiles])
    if hi <= lo:
        lo, hi = float(sample.min()), float(sample.max())
    return lo, hi


def to_ras(image: torch.Tensor, affine: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
    """``image`` with its voxel axes flipped and permuted to RAS, and the affine to match
    (nibabel's ``apply_orientation``, as MONAI's ``Orientation`` does it)."""
    transform = nib.orientations.ornt_transform(nib.io_orientation(affine), _RAS)
    flips = [axis for axis, flip in enumerate(transform[:, 1]) if flip == -1]
    if flips:
        image = torch.flip(image, flips)
    shape = tuple(image.shape)
    order = np.argsort(transform[:, 0])
    if list(order) != [0, 1, 2]:
        image = image.permute(*(int(a) for a in order))
    new_affine = affine @ nib.orientations.inv_ornt_aff(transform, shape)
    return image, new_affine


def resampled_grid(
    affine: np.ndarray, shape: tuple[int, ...], spacing_mm: float
) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Affine and shape of the grid of ``spacing_mm`` voxels over the volume, as MONAI's
    ``Spacing(pixdim)`` chooses them: the same axis directions (shear removed), the first
    corner voxel's centre kept in place, the extent rounded to whole voxels."""
    rzs = affine[:3, :3]
    zs = np.linalg.cholesky(rzs.T @ rzs).T
    rotation = rzs @ np.linalg.inv(zs)
    out = np.eye(4)
    out[:3, :3] = rotation @ np.diag(np.sign(np.diag(zs)) * spacing_mm)
    corners = np.stack(np.meshgrid(*[(0.0, s - 1.0) for s in shape], indexing="ij")).reshape(3, -1)
    corners = np.concatenate([corners, np.ones_like(corners[:1])])
    in_out = np.linalg.solve(out, affine) @ corners
    out_shape = np.round(np.ptp(in_out[:3], axis=1) + 1.0).astype(int)
    world = affine @ corners
    offset = None
    for i in range(corners.shape[1]):
        if np.allclose(np.min(in_out[:3] - in_out[:3, i : i + 1], axis=1), 0.0, rtol=1e-3):
            offset = world[:3, i]
            break
    if offset is None:  # no corner is the lowest on every axis (oblique): centre on the input
        offset = rzs @ (np.asarray(shape) / 2.0) + affine[:3, 3] - out[:3, :3] @ (out_shape / 2.0)
    out[:3, 3] = offset
    return out, (int(out_shape[0]), int(out_shape[1]), int(out_shape[2]))


def _normalised(shape: tuple[int, ...]) -> np.ndarray:
    """Voxel index -> grid_sample's normalised coordinate (-1 and 1 at the first and last voxel
    centres, ``align_corners=True``), axes reversed to its (x=last, y, z=first) order."""
    n = np.eye(4)
    for axis, size in enumerate(shape):
        n[axis, axis] = 2.0 / max(size - 1, 1)
        n[axis, 3] = -1.0
    reverse = np.eye(4)[[2, 1, 0, 3]]
    return reverse @ n


def resample(
    image: torch.Tensor, affine: np.ndarray, out_affine: np.ndarray, out_shape: tuple[int, ...]
) -> torch.Tensor:
    """``image`` (X, Y, Z) read at each voxel centre of the grid ``out_affine``/``out_shape``,
    trilinear, zero outside (MONAI's bilinear, zeros-padded ``SpatialResample``)."""
    index_map = np.linalg.solve(affine, out_affine)  # output voxel -> input voxel
    theta = _normalised(tuple(image.shape)) @ index_map @ np.linalg.inv(_normalised(out_shape))
    theta_t = torch.as_tensor(theta[:3], dtype=torch.float32, device=image.device)[None]
    grid = F.affine_grid(theta_t, [1, 1, *out_shape], align_corners=True)
    out = F.grid_sample(
        image[None, None].float(), grid, mode="bilinear", padding_mode="zeros", align_corners=True
    )
    return out[0, 0]


def prepare(
    scan: Scan,
    device: torch.device | str = "cpu",
    work_spacing_mm: float = DEFAULT_WORK_SPACING_MM,
    percentiles: tuple[float, float] = DEFAULT_INTENSITY_PERCENTILES,
) -> Prepared:
    """Reorient ``scan`` to RAS, resample it to ``work_spacing_mm`` isotropic voxels if needed,
    and map its ``percentiles`` to 0 and 1 (not clipped: the tissue model needs the bright tail;
    the networks clip for themselves)."""
    device = torch.device(device)
    image, affine = to_ras(torch.from_numpy(scan.data).to(device), scan.affine)
    report_fraction(0.2)
    zooms = np.linalg.norm(scan.affine[:3, :3], axis=0)
    needed = bool(np.any(np.abs(zooms / work_spacing_mm - 1.0) > DEFAULT_SPACING_TOLERANCE))
    if needed:
        out_affine, out_shape = resampled_grid(affine, tuple(image.shape), work_spacing_mm)
        image = resample(image, affine, out_affine, out_shape)
        affine = out_affine
    report_fraction(0.7)
    lo, hi = robust_range(image, percentiles)
    data = ((image.float() - lo) / (hi - lo)).contiguous()
    return Prepared(image=data, affine=np.asarray(affine, dtype=np.float64), resampled=needed)
