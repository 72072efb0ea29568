"""Full-resolution quality on the 1 mm MNI152 brain: the figures bench/README.md reports."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from gpu_worker.pipeline.options import PipelineOptions
from gpu_worker.pipeline.run import run_pipeline
from mrimesh.config import Settings
from tests.pipeline.conftest import nilearn_map
from tests.support.data import nilearn_mni_t1

pytestmark = pytest.mark.slow


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b)))


def reference(name: str, threshold: float) -> np.ndarray:
    data = np.asarray(nib.load(str(nilearn_map(name))).dataobj, dtype=np.float32)
    return data / data.max() > threshold


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory, cpu_settings: Settings):
    out = tmp_path_factory.mktemp("mni_1mm")
    report = run_pipeline(nilearn_mni_t1(), out, PipelineOptions(), cpu_settings)
    labels = np.asarray(nib.load(str(out / "segmentation.nii.gz")).dataobj)
    return report, labels


def test_brain_mask_dice_against_nilearns_mask(full_run) -> None:
    _, labels = full_run
    assert dice(labels > 0, reference("t1", 0.2)) >= 0.95


def test_tissue_dice_against_nilearns_probability_maps(full_run) -> None:
    _, labels = full_run
    assert dice(labels == 2, reference("gm", 0.5)) >= 0.80
    assert dice(labels == 3, reference("wm", 0.5)) >= 0.80


def test_volumes_are_adult_and_meshes_printable(full_run) -> None:
    report, _ = full_run
    brain = report["structures"][0]
    assert 900 <= brain["volume_ml"] <= 2000
    for structure in report["structures"]:
        assert structure["watertight"] and structure["manifold"] and structure["outward_normals"]
    # sulci survive: the pial surface has well over the area of its convex hull
    assert brain["hull_area_ratio"] >= 1.8
    assert report["input"]["voxels"] == 197 * 233 * 189
    assert report["work_grid"]["voxel_size_mm"] == [1.0, 1.0, 1.0]
    assert report["notes"] == []  # a 1 mm T1: nothing to warn about
