"""Mask helpers: label sets as one comparison per run of consecutive labels."""

from __future__ import annotations

import numpy as np
import pytest

from gpu_worker.pipeline.masks import label_mask


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int32])
@pytest.mark.parametrize("values", [(2,), (1, 2, 3), (3, 1), (1, 3, 4, 7), (0,), (9,), ()])
def test_label_mask_is_membership_in_the_values(dtype, values) -> None:
    labels = np.random.default_rng(0).integers(0, 8, size=(17, 11, 13)).astype(dtype)

    mask = label_mask(labels, values)

    assert mask.dtype == bool
    assert mask.shape == labels.shape
    np.testing.assert_array_equal(mask, np.isin(labels, values))
