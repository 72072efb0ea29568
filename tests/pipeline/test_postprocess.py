"""Step 4: one brain, no stray islands, cavities filled, ventricles found, labels named."""

from __future__ import annotations

import numpy as np
import pytest

from gpu_worker.pipeline.errors import InputError
from gpu_worker.pipeline.postprocess import VENTRICLES, clean_per_label, postprocess
from gpu_worker.pipeline.tissue import CSF, GREY_MATTER, WHITE_MATTER
from gpu_worker.pipeline.types import Segmentation, StructureSpec


def ball(shape: tuple[int, int, int], centre: tuple[float, ...], radius: float) -> np.ndarray:
    idx = np.indices(shape) - np.asarray(centre, dtype=float).reshape(3, 1, 1, 1)
    return np.sqrt((idx**2).sum(axis=0)) < radius


def tissue_map() -> np.ndarray:
    """GM shell around WM, a CSF ventricle inside, a tiny CSF pocket, and stray islands."""
    shape = (120, 120, 120)
    c = (60, 60, 60)
    labels = np.zeros(shape, np.uint8)
    labels[ball(shape, c, 50)] = CSF
    labels[ball(shape, c, 47)] = GREY_MATTER
    labels[ball(shape, c, 38)] = WHITE_MATTER
    labels[ball(shape, c, 12)] = CSF  # ventricle: ~7 mL at 1 mm
    labels[ball(shape, (60, 60, 90), 1.5)] = CSF  # a few misclassified voxels in white matter
    labels[ball(shape, (8, 8, 8), 4)] = WHITE_MATTER  # an island outside the brain
    labels[ball(shape, (60, 103, 60), 2)] = WHITE_MATTER  # white matter island inside grey
    return labels


def run(labels: np.ndarray) -> np.ndarray:
    return run_seg(labels).labels


def run_seg(labels: np.ndarray) -> Segmentation:
    seg = Segmentation(
        labels=labels,
        affine=np.eye(4),
        names={0: "background", 1: "csf", 2: "grey_matter", 3: "white_matter", 4: "ventricles"},
        structures=(StructureSpec("brain", (2, 3, 4)),),
        postprocess="brain_tissue",
    )
    return postprocess(seg)


def test_stray_islands_are_removed_and_pockets_filled() -> None:
    labels = tissue_map()
    out = run(labels)
    assert out[8, 8, 8] == 0  # island outside the brain is gone
    assert out[60, 103, 60] == GREY_MATTER  # white matter island inside grey becomes grey
    assert out[60, 60, 90] == GREY_MATTER  # tiny enclosed pocket is tissue, not a cavity


def test_enclosed_csf_becomes_ventricles() -> None:
    out = run(tissue_map())
    ventricle = ball(out.shape, (60, 60, 60), 12)
    assert (out[ventricle] == VENTRICLES).mean() > 0.95
    assert np.count_nonzero(out == VENTRICLES) == pytest.approx(ventricle.sum(), rel=0.1)


def test_outer_csf_stays_csf() -> None:
    out = run(tissue_map())
    assert out[60, 60, 60 + 49] == CSF


def test_a_region_too_small_for_a_brain_is_refused() -> None:
    labels = np.zeros((60, 60, 60), np.uint8)
    labels[ball(labels.shape, (30, 30, 30), 20)] = GREY_MATTER  # 34 mL
    with pytest.raises(InputError) as caught:
        run(labels)
    assert caught.value.code == "no_brain"


def test_per_label_cleanup_keeps_each_labels_largest_piece() -> None:
    labels = np.zeros((40, 40, 40), np.uint8)
    labels[5:15, 5:15, 5:15] = 1
    labels[30:32, 30:32, 30:32] = 1
    labels[20:28, 5:15, 5:15] = 2
    out = clean_per_label(labels)
    assert np.count_nonzero(out == 1) == 1000
    assert np.count_nonzero(out == 2) == 8 * 10 * 10


def test_usual_grey_white_proportions_raise_no_note() -> None:
    assert run_seg(tissue_map()).notes == ()  # white matter is about half of the tissue


def test_implausibly_little_white_matter_is_flagged_for_the_user() -> None:
    # Given a brain whose "white matter" is a small core, as a FLAIR scan gives
    shape, c = (120, 120, 120), (60, 60, 60)
    labels = np.zeros(shape, np.uint8)
    labels[ball(shape, c, 50)] = CSF
    labels[ball(shape, c, 47)] = GREY_MATTER
    labels[ball(shape, c, 20)] = WHITE_MATTER
    # Then the cleaned-up segmentation carries a note saying the white matter is unreliable
    (note,) = run_seg(labels).notes
    assert "white matter came out as 8% of the brain tissue" in note
    assert "T1-weighted" in note
