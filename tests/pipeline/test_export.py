"""Step 6: the label map goes back onto the input's grid exactly, by slicing when it can."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import ndimage

from gpu_worker.pipeline.export import _whole_voxel_view


def _resampled(labels: np.ndarray, to_work: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return ndimage.affine_transform(
        labels, to_work[:3, :3], offset=to_work[:3, 3], output_shape=shape, order=0, cval=0
    )


@pytest.mark.parametrize("axes", list(itertools.permutations(range(3))))
@pytest.mark.parametrize("signs", list(itertools.product([1, -1], repeat=3)))
def test_axis_swaps_and_flips_are_sliced_exactly(axes, signs) -> None:
    # given a working grid that is the input's, reordered, flipped and shifted by whole voxels
    labels = np.random.default_rng(0).integers(0, 5, (7, 9, 11)).astype(np.uint8)
    to_work, shape = np.eye(4), [0, 0, 0]
    for axis, (source, sign) in enumerate(zip(axes, signs, strict=True)):
        to_work[axis, :3] = 0
        to_work[axis, source] = sign
        shape[source] = labels.shape[axis] - 1
        to_work[axis, 3] = 1 if sign > 0 else labels.shape[axis] - 2
    # when the labels are read back onto the input's grid
    view = _whole_voxel_view(labels, to_work, tuple(shape))
    # then slicing gives what nearest-neighbour resampling gives
    assert view is not None
    np.testing.assert_array_equal(view, _resampled(labels, to_work, tuple(shape)))


@pytest.mark.parametrize(
    "to_work",
    [
        np.diag([0.5, 1.0, 1.0, 1.0]),  # resampled: not whole voxels
        np.array([[1.0, 0, 0, 0.5], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]),  # half a voxel
        np.array([[1.0, 0, 0, -2], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]),  # off the grid
    ],
    ids=["scaled", "half_voxel_shift", "outside"],
)
def test_anything_else_is_left_to_resampling(to_work: np.ndarray) -> None:
    labels = np.ones((6, 6, 6), np.uint8)
    assert _whole_voxel_view(labels, to_work, (6, 6, 6)) is None
