"""Step 7: one zip of all results, never visible half-written."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from gpu_worker.pipeline.package import package_results
from gpu_worker.progress import Cancelled, reporting_to, step
from mrimesh.contract import Step
from tests.pipeline.conftest import Run


def test_zip_holds_meshes_segmentation_and_report(brain_run: Run, tmp_path: Path) -> None:
    zip_path = package_results(brain_run.out, tmp_path / "result.zip")
    with zipfile.ZipFile(zip_path) as archive:
        assert archive.testzip() is None
        names = set(archive.namelist())
    expected = {"report.json", "segmentation.nii.gz"}
    for structure in brain_run.report["structures"]:
        expected |= set(structure["files"].values())
    expected |= set(brain_run.report["print"]["files"].values())  # the 3MF of every piece
    assert names == expected
    assert not [p for p in tmp_path.iterdir() if p.name != "result.zip"]


def test_zip_inside_the_results_folder_does_not_contain_itself(
    brain_run: Run, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    for name in ("report.json", "segmentation.nii.gz", "brain.stl"):
        (out / name).write_bytes((brain_run.out / name).read_bytes())
    package_results(out, out / "result.zip")
    package_results(out, out / "result.zip")  # a redelivered job packages again
    with zipfile.ZipFile(out / "result.zip") as archive:
        assert sorted(archive.namelist()) == ["brain.stl", "report.json", "segmentation.nii.gz"]


def test_interrupted_packaging_leaves_the_previous_zip_whole(
    brain_run: Run, tmp_path: Path
) -> None:
    # Given a complete zip from an earlier attempt
    zip_path = package_results(brain_run.out, tmp_path / "result.zip")
    before = zip_path.read_bytes()

    # When the next attempt is cancelled half-way through writing
    def cancel_mid_way(step: str, fraction: float) -> None:
        if step == Step.PACKAGING.value and 0.2 < fraction < 1.0:
            raise Cancelled

    with reporting_to(cancel_mid_way), pytest.raises(Cancelled), step(Step.PACKAGING):
        package_results(brain_run.out, zip_path)
    # Then the old zip is untouched and no partial file is left behind
    assert zip_path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["result.zip"]


def test_packaging_reports_progress(brain_run: Run, tmp_path: Path) -> None:
    calls: list[tuple[str, float]] = []
    with reporting_to(lambda step_id, f: calls.append((step_id, f))), step(Step.PACKAGING):
        package_results(brain_run.out, tmp_path / "result.zip")
    assert calls[0] == (Step.PACKAGING.value, 0.0)
    assert calls[-1] == (Step.PACKAGING.value, 1.0)
    assert len(calls) > 2  # fractions between the block's start and end
    assert len(calls) <= 40
