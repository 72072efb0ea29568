"""The one set of header rules that the API's upload gate and the worker's loader both apply."""

from __future__ import annotations

import numpy as np
import pytest

from mrimesh.limits import MAX_VOXELS, MIN_EDGE_VOXELS, shape_problem

RGB = np.dtype([("R", "u1"), ("G", "u1"), ("B", "u1")])


@pytest.mark.parametrize(
    ("shape", "dtype", "code"),
    [
        ((64, 64), np.int16, "not_3d"),
        ((64, 64, 1), np.int16, "not_3d"),
        ((20, 20, 20, 2, 3), np.int16, "too_many_dimensions"),
        ((32, 32, 32), RGB, "rgb"),
        ((32, 32, 32), np.complex64, "complex"),
        ((100_000, 100_000, 100_000), np.int16, "image_too_large"),
        ((600, 600, 600), np.longdouble, "image_too_large"),  # within voxels, over 2 GiB
        ((MIN_EDGE_VOXELS - 1, 64, 64), np.int16, "image_too_small"),
    ],
)
def test_unusable_headers_are_named_with_a_readable_reason(shape, dtype, code) -> None:
    problem = shape_problem(shape, np.dtype(dtype))
    assert problem is not None
    assert problem.code == code
    assert len(problem.message) > 20 and problem.message.endswith(".")


@pytest.mark.parametrize(
    "shape",
    [(197, 233, 189), (256, 256, 176, 1), (64, 64, 40, 30), (96, 96, 60, 1, 1)],
)
def test_brain_sized_3d_and_4d_headers_pass(shape) -> None:
    assert shape_problem(shape, np.dtype(np.int16)) is None


def test_the_voxel_cap_is_inclusive() -> None:
    edge = round(MAX_VOXELS ** (1 / 3))
    assert shape_problem((edge, edge, MAX_VOXELS // (edge * edge)), np.dtype(np.uint8)) is None
