"""The tissue model on a phantom whose answer is known: CSF, grey and white matter shells."""

from __future__ import annotations

import numpy as np
import torch

from gpu_worker.pipeline.tissue import CSF, GREY_MATTER, WHITE_MATTER, classify_tissue


def phantom(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """A 'brain' ball: white matter core, grey matter shell with dark CSF clefts, noisy T1-like."""
    n = 96
    z, y, x = np.indices((n, n, n)) - n / 2
    r = np.sqrt(x**2 + y**2 + z**2)
    truth = np.zeros((n, n, n), np.uint8)
    truth[r < 40] = GREY_MATTER
    truth[r < 28] = WHITE_MATTER
    clefts = (r < 40) & (r > 30) & (np.abs(x) < 2)  # a CSF-filled "sulcus"
    truth[clefts] = CSF
    truth[(r < 8)] = CSF  # a "ventricle"
    means = {0: 0.0, CSF: 0.25, GREY_MATTER: 0.62, WHITE_MATTER: 0.9}
    image = np.vectorize(means.get)(truth).astype(np.float32)
    image += np.random.default_rng(seed).normal(0, 0.05, image.shape).astype(np.float32)
    return torch.from_numpy(image), torch.from_numpy(r < 40), truth


def test_tissue_classes_are_recovered_on_a_phantom() -> None:
    image, brain, truth = phantom()
    labels = classify_tissue(image, brain).numpy()
    inside = truth > 0
    accuracy = (labels[inside] == truth[inside]).mean()
    assert accuracy > 0.97
    assert (labels[~inside] == 0).all()
    for value in (CSF, GREY_MATTER, WHITE_MATTER):
        recovered = (labels == value) & (truth == value)
        assert recovered.sum() / (truth == value).sum() > 0.9


def test_csf_at_exactly_zero_is_csf_not_a_fourth_class() -> None:
    # Given a template-like image where CSF has been set to exactly 0
    image, brain, truth = phantom(seed=1)
    image[torch.from_numpy(truth == CSF)] = 0.0
    labels = classify_tissue(image, brain).numpy()
    inside = truth > 0
    assert (labels[inside] == truth[inside]).mean() > 0.97


def test_empty_mask_gives_no_labels() -> None:
    image, _, _ = phantom()
    labels = classify_tissue(image, torch.zeros(image.shape, dtype=torch.bool))
    assert labels.dtype == torch.uint8
    assert int(labels.max()) == 0
