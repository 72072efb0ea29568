"""Step 2: RAS orientation, isotropic resampling and intensity scaling, in world space."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from gpu_worker.pipeline.defaults import DEFAULT_INTENSITY_PERCENTILES
from gpu_worker.pipeline.load import load_scan
from gpu_worker.pipeline.preprocess import prepare, robust_range
from gpu_worker.pipeline.types import Scan


def reoriented(scan: Scan, codes: str) -> Scan:
    """The same scan stored with its voxel axes in ``codes`` order (same world positions)."""
    current = nib.io_orientation(scan.affine)
    target = nib.orientations.axcodes2ornt(tuple(codes))
    transform = nib.orientations.ornt_transform(current, target)
    data = nib.orientations.apply_orientation(scan.data, transform)
    affine = scan.affine @ nib.orientations.inv_ornt_aff(transform, scan.data.shape)
    return Scan(np.ascontiguousarray(data), affine, scan.header, dict(scan.info))


def world_centroid(image: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Intensity-weighted centre of an image, in world mm."""
    weights = np.clip(image, 0, None)
    idx = np.indices(image.shape).reshape(3, -1)
    centre = (idx * weights.reshape(-1)).sum(axis=1) / weights.sum()
    return affine[:3, :3] @ centre + affine[:3, 3]


@pytest.fixture(scope="module")
def scan(brain_2mm: Path) -> Scan:
    return load_scan(brain_2mm)


@pytest.mark.parametrize("codes", ["LPS", "AIL", "IPR"])
def test_any_voxel_order_gives_the_same_ras_volume(scan: Scan, codes: str) -> None:
    reference = prepare(scan, work_spacing_mm=2.0)
    other = prepare(reoriented(scan, codes), work_spacing_mm=2.0)
    assert nib.aff2axcodes(other.affine) == ("R", "A", "S")
    np.testing.assert_allclose(other.affine, reference.affine, atol=1e-4)
    torch.testing.assert_close(other.image, reference.image)


def test_resampling_keeps_the_anatomy_where_it_was_in_world_space(scan: Scan) -> None:
    prepared = prepare(scan, work_spacing_mm=1.0)
    assert prepared.resampled
    assert prepared.spacing == pytest.approx((1.0, 1.0, 1.0))
    assert tuple(prepared.image.shape) == pytest.approx(
        tuple(2 * s for s in scan.data.shape), abs=2
    )
    before = world_centroid(scan.data, scan.affine)
    after = world_centroid(prepared.image.numpy(), prepared.affine)
    np.testing.assert_allclose(after, before, atol=1.0)


def test_matching_spacing_is_not_resampled(scan: Scan) -> None:
    prepared = prepare(scan, work_spacing_mm=2.0)
    assert not prepared.resampled
    assert tuple(prepared.image.shape) == scan.data.shape


def test_intensities_map_the_robust_range_to_zero_and_one(scan: Scan) -> None:
    image = prepare(scan, work_spacing_mm=2.0).image
    assert image.dtype == torch.float32
    low, high = torch.quantile(image.reshape(-1)[::7], torch.tensor([0.005, 0.995])).tolist()
    assert low == pytest.approx(0.0, abs=0.02)
    assert high == pytest.approx(1.0, abs=0.02)


@pytest.mark.parametrize(("codes", "spacing"), [("RAS", 1.0), ("IPR", 1.0), ("LPS", 0.9)])
def test_the_grid_and_values_are_monais(scan: Scan, codes: str, spacing: float) -> None:
    # Given MONAI's own Orientation("RAS") + Spacing(bilinear, zeros), which prepare reproduces
    # in plain torch (MONAI takes seconds to import)
    from monai.data import MetaTensor
    from monai.transforms import Orientation, Spacing

    source = reoriented(scan, codes)
    affine = torch.as_tensor(source.affine, dtype=torch.float64)
    meta = MetaTensor(torch.from_numpy(source.data)[None], affine=affine)
    meta = Orientation(axcodes="RAS")(meta)
    meta = Spacing(pixdim=(spacing,) * 3, mode="bilinear", padding_mode="zeros")(
        meta, dtype=torch.float32
    )
    expected = meta.as_tensor()[0]
    # When prepare resamples the same scan
    prepared = prepare(source, work_spacing_mm=spacing)
    # Then the working grid is the same, and so is every voxel (before intensity scaling)
    assert tuple(prepared.image.shape) == tuple(expected.shape)
    np.testing.assert_allclose(prepared.affine, meta.affine.numpy(), atol=1e-6)
    lo, hi = robust_range(expected, DEFAULT_INTENSITY_PERCENTILES)
    torch.testing.assert_close(prepared.image, (expected - lo) / (hi - lo), atol=1e-4, rtol=0)
