"""Boolean-mask helpers shared by cleaning up and meshing (numpy, cc3d and fill_voids only)."""

from __future__ import annotations

import cc3d
import fill_voids
import numpy as np


def largest_component(mask: np.ndarray, connectivity: int = 6) -> np.ndarray:
    """The largest connected piece of a boolean mask (empty stays empty)."""
    if not mask.any():
        return mask
    return cc3d.largest_k(mask, k=1, connectivity=connectivity) > 0


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """``mask`` with every cavity it fully encloses filled in."""
    return fill_voids.fill(mask, in_place=False)


def bounding_box(mask: np.ndarray) -> tuple[slice, slice, slice] | None:
    """Slices of the box around ``mask``'s voxels with a one-voxel margin (None when empty)."""
    spans = []
    for axis in range(3):
        hits = np.nonzero(mask.any(axis=tuple(a for a in range(3) if a != axis)))[0]
        if len(hits) == 0:
            return None
        spans.append(slice(max(int(hits[0]) - 1, 0), int(hits[-1]) + 2))
    return spans[0], spans[1], spans[2]
