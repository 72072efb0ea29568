"""Hemispheres on the real scans of ../shared/data (skipped without it): alike in volume, apart,
flat where cut, and cut the same way whatever the scan's voxel orientation."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from gpu_worker.pipeline.meshing.measure import flatness
from gpu_worker.pipeline.meshing.readers import read_stl
from gpu_worker.pipeline.options import PipelineOptions
from gpu_worker.pipeline.run import run_pipeline
from mrimesh.config import Settings
from tests.support.data import shared_file

pytestmark = pytest.mark.slow

HEMISPHERES = ("left_hemisphere", "right_hemisphere")
OPTIONS = PipelineOptions(
    work_spacing_mm=2.0, target_triangles=30_000, structures=HEMISPHERES, formats=("stl",)
)


def hemispheres(scan: Path, out: Path, settings: Settings) -> dict:
    return run_pipeline(scan, out, OPTIONS, settings)


@pytest.mark.parametrize("name", ["T1_head_2mm.nii.gz", "MNI152_2009_template.nii.gz"])
def test_healthy_hemispheres_are_alike_apart_and_flat(
    name: str, tmp_path: Path, cpu_settings: Settings
) -> None:
    report = hemispheres(shared_file(name), tmp_path, cpu_settings)
    plane = report["print"]["midline_plane"]
    normal, offset = np.asarray(plane["normal"]), plane["offset_mm"]
    left, right = report["structures"]
    assert (left["name"], right["name"]) == HEMISPHERES
    assert (
        abs(left["volume_ml"] - right["volume_ml"]) / max(left["volume_ml"], right["volume_ml"])
        < 0.10
    )
    gap = report["print"]["hemisphere_gap_mm"]
    for piece, side in ((left, -1), (right, 1)):
        assert piece["watertight"] and piece["manifold"] and piece["outward_normals"]
        mesh = read_stl(tmp_path / piece["files"]["stl"])
        depth = side * (mesh.vertices @ normal - offset)
        assert depth.min() >= gap / 2 - 1e-3  # on its own side of the gap: no intersection
        on_cut = np.abs(depth - gap / 2) < 1e-3
        cut = mesh.vertices[mesh.faces[on_cut[mesh.faces].all(axis=1)].reshape(-1)]
        assert len(cut) > 300
        assert flatness(cut)[1] <= 0.5


def test_the_cut_does_not_depend_on_the_voxel_orientation(
    tmp_path: Path, cpu_settings: Settings
) -> None:
    planes = {}
    for codes in ("RAS", "LPS", "AIL"):
        report = hemispheres(
            shared_file(f"orientations/{codes}.nii.gz"), tmp_path / codes, cpu_settings
        )
        planes[codes] = report["print"]["midline_plane"]
        assert all(p["watertight"] and p["manifold"] for p in report["structures"])
    # the planes' largest distance apart anywhere in the brain's bounding box
    vertices = np.concatenate(
        [read_stl(tmp_path / "RAS" / f"{name}.stl").vertices for name in HEMISPHERES]
    )
    low, high = vertices.min(axis=0), vertices.max(axis=0)
    corners = np.array(list(itertools.product(*zip(low, high, strict=True))))
    for a, b in itertools.combinations(planes.values(), 2):
        da = corners @ np.asarray(a["normal"]) - a["offset_mm"]
        db = corners @ np.asarray(b["normal"]) - b["offset_mm"]
        assert np.abs(da - db).max() <= 1.0, (a, b)
