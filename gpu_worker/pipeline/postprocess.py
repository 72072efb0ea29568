"""Step 4, "Cleaning up": keep the largest connected pieces, fill enclosed holes, name labels."""

from __future__ import annotations

from dataclasses import replace

import cc3d
import numpy as np
from scipy import ndimage

from gpu_worker.pipeline.defaults import (
    DEFAULT_MAX_BRAIN_ML,
    DEFAULT_MIN_BRAIN_ML,
    DEFAULT_MIN_COMPONENT_ML,
    DEFAULT_WHITE_MATTER_SHARE_RANGE,
)
from gpu_worker.pipeline.errors import InputError
from gpu_worker.pipeline.masks import bounding_box, fill_holes, largest_component
from gpu_worker.pipeline.tissue import CSF, GREY_MATTER, WHITE_MATTER
from gpu_worker.pipeline.types import Segmentation

#: Label of CSF enclosed by brain tissue (the ventricular system, mostly).
VENTRICLES = 4


def clean_brain_tissue(labels: np.ndarray, voxel_ml: float, min_ml: float) -> np.ndarray:
    """Tidy a CSF/GM/WM label map into one brain.

    1. the brain is the largest piece of labelled voxels, with its holes filled (as CSF);
    2. grey + white matter keep their largest piece; stray bits become CSF;
    3. cavities fully enclosed by tissue smaller than ``min_ml`` are misclassified voxels, not
       real cavities: they become grey matter;
    4. ventricles: non-tissue voxels enclosed by the tissue once channels one voxel wide (the
       aqueduct, the foramina) are closed, in pieces of at least ``min_ml``;
    5. white matter keeps its largest piece; stray bits become grey matter.
    """
    out = np.zeros_like(labels)
    box = bounding_box(labels > 0)
    if box is None:
        return out
    lab = labels[box].copy()
    brain = fill_holes(largest_component(lab > 0))
    lab[~brain] = 0
    lab[brain & (lab == 0)] = CSF
    min_voxels = max(1, int(min_ml / voxel_ml))
    tissue = (lab == GREY_MATTER) | (lab == WHITE_MATTER)
    kept = largest_component(tissue)
    lab[tissue & ~kept] = CSF
    holes = fill_holes(kept) & ~kept
    small = holes & ~cc3d.dust(holes, threshold=min_voxels, connectivity=6)
    lab[small] = GREY_MATTER
    kept |= small
    closed = ndimage.binary_closing(kept, iterations=1)
    cavities = fill_holes(closed) & ~kept
    if cavities.any():
        lab[cc3d.dust(cavities, threshold=min_voxels, connectivity=6)] = VENTRICLES
    white = lab == WHITE_MATTER
    lab[white & ~largest_component(white)] = GREY_MATTER
    out[box] = lab
    return out


def clean_per_label(labels: np.ndarray) -> np.ndarray:
    """Keep only the largest connected piece of every label."""
    out = np.zeros_like(labels)
    for value in np.flatnonzero(np.bincount(labels.ravel())):
        if value == 0:
            continue
        out[largest_component(labels == value, connectivity=26)] = value
    return out


def check_brain_volume(volume_ml: float) -> None:
    """Refuse a "brain" whose size no human brain has: the scan was not of a head."""
    if not DEFAULT_MIN_BRAIN_ML <= volume_ml <= DEFAULT_MAX_BRAIN_ML:
        raise InputError(
            f"No brain was found in this scan (the region found measures {volume_ml:.0f} mL; a "
            f"human brain measures {DEFAULT_MIN_BRAIN_ML:.0f} to {DEFAULT_MAX_BRAIN_ML:.0f} mL).",
            code="no_brain",
        )


def tissue_notes(counts: np.ndarray) -> tuple[str, ...]:
    """A warning when grey and white matter (voxel ``counts`` per label) are in proportions no
    adult T1 scan shows (a FLAIR or T2 scan, very coarse voxels): the brain surface is still
    right, the white matter not."""
    tissue = int(counts[GREY_MATTER]) + int(counts[WHITE_MATTER])
    if tissue == 0:
        return ()
    share = counts[WHITE_MATTER] / tissue
    low, high = DEFAULT_WHITE_MATTER_SHARE_RANGE
    if low <= share <= high:
        return ()
    return (
        f"Grey and white matter could not be told apart reliably: white matter came out as "
        f"{share:.0%} of the brain tissue, where adult T1-weighted scans give 35-50%. The brain "
        "surface is not affected; the white-matter mesh may be wrong. Separating them needs a "
        "T1-weighted scan with voxels of about 1 mm.",
    )


def postprocess(
    seg: Segmentation, min_component_ml: float = DEFAULT_MIN_COMPONENT_ML
) -> Segmentation:
    """Clean ``seg``'s label map the way its bundle asks."""
    notes: tuple[str, ...] = ()
    if seg.postprocess == "brain_tissue":
        labels = clean_brain_tissue(seg.labels, seg.voxel_ml, min_component_ml)
        counts = np.bincount(labels.ravel(), minlength=VENTRICLES + 1)
        check_brain_volume(float(counts[1:].sum()) * seg.voxel_ml)
        notes = tissue_notes(counts)
    else:
        labels = clean_per_label(seg.labels)
    return replace(seg, labels=labels, notes=seg.notes + notes)
