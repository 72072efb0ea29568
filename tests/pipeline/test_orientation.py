"""The same head stored in different voxel orders gives the same meshes in world space."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import open3d as o3d
import pytest
from scipy.spatial import cKDTree

from gpu_worker.pipeline.options import PipelineOptions
from gpu_worker.pipeline.run import run_pipeline
from mrimesh.config import Settings
from tests.pipeline.conftest import Run
from tests.support.data import shared_file

#: Largest symmetric Hausdorff distance between meshes of the same anatomy, in mm.
MAX_HAUSDORFF_MM = 2.0


def hausdorff(a: np.ndarray, b: np.ndarray) -> float:
    """Symmetric Hausdorff distance between two vertex clouds, in their units."""
    return float(max(cKDTree(b).query(a)[0].max(), cKDTree(a).query(b)[0].max()))


def vertices(path: Path) -> np.ndarray:
    return np.asarray(o3d.io.read_triangle_mesh(str(path)).vertices)


def store_as(source: Path, codes: str, out: Path) -> Path:
    """Re-store ``source`` with its voxel axes in ``codes`` order; world positions unchanged."""
    image = nib.load(str(source))
    transform = nib.orientations.ornt_transform(
        nib.io_orientation(image.affine), nib.orientations.axcodes2ornt(tuple(codes))
    )
    nib.save(image.as_reoriented(transform), str(out))
    assert nib.aff2axcodes(nib.load(str(out)).affine) == tuple(codes)
    return out


def test_reordered_voxels_give_the_same_meshes(
    brain_run: Run, tmp_path: Path, cpu_settings: Settings, fast_options: PipelineOptions
) -> None:
    # Given the run's brain re-stored as AIL (axes permuted and flipped)
    ail = store_as(brain_run.input, "AIL", tmp_path / "ail.nii.gz")
    # When it goes through the pipeline
    report = run_pipeline(ail, tmp_path / "out", fast_options, cpu_settings)
    # Then every mesh lies where the RAS run's does, and volumes agree
    for structure in ("brain", "white_matter"):
        distance = hausdorff(
            vertices(tmp_path / "out" / f"{structure}.ply"),
            vertices(brain_run.out / f"{structure}.ply"),
        )
        assert distance <= MAX_HAUSDORFF_MM, (structure, distance)
    ours = {s["name"]: s["volume_ml"] for s in report["structures"]}
    theirs = {s["name"]: s["volume_ml"] for s in brain_run.report["structures"]}
    assert ours == pytest.approx(theirs, rel=0.01)


@pytest.mark.slow
def test_shared_orientation_files_give_the_same_meshes(
    tmp_path: Path, cpu_settings: Settings, fast_options: PipelineOptions
) -> None:
    runs = {}
    for codes in ("RAS", "LPS", "AIL", "IPR"):
        source = shared_file(f"orientations/{codes}.nii.gz")
        run_pipeline(source, tmp_path / codes, fast_options, cpu_settings)
        runs[codes] = vertices(tmp_path / codes / "brain.ply")
    for codes in ("LPS", "AIL", "IPR"):
        assert hausdorff(runs[codes], runs["RAS"]) <= MAX_HAUSDORFF_MM, codes
