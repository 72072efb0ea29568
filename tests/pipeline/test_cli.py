"""``python -m gpu_worker INPUT --out DIR`` as a person runs it."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from gpu_worker.pipeline.cli import EXIT_BAD_INPUT

REPO = Path(__file__).resolve().parents[2]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gpu_worker", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "MRIMESH_DEVICE": "cpu"},
    )


def test_a_scan_becomes_meshes_a_zip_and_a_summary(brain_2mm: Path, tmp_path: Path) -> None:
    # Given a 4D series of two volumes of a real brain
    image = nib.load(str(brain_2mm))
    series = np.stack([np.asarray(image.dataobj)] * 2, axis=-1)
    scan = tmp_path / "series.nii.gz"
    nib.save(nib.Nifti1Image(series, image.affine), str(scan))
    out = tmp_path / "out"
    done = cli(
        str(scan),
        "--out", str(out),
        "--formats", "stl,glb",
        "--target-triangles", "8000",
        "--smoothing", "5",
        "--structures", "brain,white_matter",
        "--device", "cpu",
        "--work-spacing", "2",
        "--zip", str(tmp_path / "result.zip"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "brain (" in done.stdout and "white_matter (" in done.stdout
    # the progress bar went through every step, packaging included
    for step in ("Loading scan", "Segmenting", "Generating meshes", "Packaging"):
        assert step in done.stderr
    assert "100.0%" in done.stderr
    assert "note: 4D input with 2 volumes: only the first volume was used." in done.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["options"]["smoothing_iterations"] == 5
    assert [s["name"] for s in report["structures"]] == ["brain", "white_matter"]
    assert all(s["triangles"] <= 8000 for s in report["structures"])
    with zipfile.ZipFile(tmp_path / "result.zip") as archive:
        assert "brain.glb" in archive.namelist() and "brain.obj" not in archive.namelist()


def test_bad_input_exits_non_zero_with_one_line_reason(tmp_path: Path) -> None:
    picture = tmp_path / "scan.nii.gz"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 500)
    done = cli(str(picture), "--out", str(tmp_path / "out"), "--quiet")
    assert done.returncode == EXIT_BAD_INPUT
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "PNG picture" in lines[0]
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out" / "report.json").exists()


def test_bad_arguments_exit_2(tmp_path: Path) -> None:
    assert cli(str(tmp_path / "x.nii"), "--out", str(tmp_path), "--formats", "fbx").returncode == 2
    assert cli(str(tmp_path / "x.nii")).returncode == 2  # --out missing
    unknown = cli(str(tmp_path / "x.nii"), "--out", str(tmp_path), "--structures", "cortex")
    assert unknown.returncode == 2 and "cortex" in unknown.stderr
    hollow = cli(str(tmp_path / "x.nii"), "--out", str(tmp_path), "--hollow", "99")
    assert hollow.returncode == 2 and "hollow_mm" in hollow.stderr
    both = cli(
        str(tmp_path / "x.nii"), "--out", str(tmp_path), "--scale", "50", "--longest-side", "9"
    )
    assert both.returncode == 2 and "not allowed with" in both.stderr
    neither = cli("--out", str(tmp_path))
    assert neither.returncode == 2 and "--remake" in neither.stderr


def test_remake_from_an_output_folder_without_segmenting(brain_run, tmp_path: Path) -> None:
    """Given a finished output folder, when it is re-made with other print options, then a new
    folder holds the new pieces (the old one is untouched), from the same label map."""
    before = sorted((p.name, p.stat().st_mtime_ns) for p in brain_run.out.rglob("*"))
    new = tmp_path / "again"
    done = cli(
        "--remake", str(brain_run.out), "--out", str(new), "--quiet", "--json",
        "--structures", "left_hemisphere,right_hemisphere",
        "--formats", "stl,3mf", "--hollow", "1.5", "--longest-side", "100",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["remade"] is True
    assert list(report["steps"]) == ["loading_labels", "meshing", "exporting"]
    assert [s["name"] for s in report["structures"]] == ["left_hemisphere", "right_hemisphere"]
    assert all(s["hollow"] and s["watertight"] and s["manifold"] for s in report["structures"])
    assert max(report["print"]["size_mm"]) == pytest.approx(100.0, rel=0.01)
    assert report["print_options"]["hollow_mm"] == 1.5
    assert report["input"] == brain_run.report["input"]  # carried over from the first run
    names = sorted(p.name for p in new.iterdir())
    assert names == [
        "files",
        "left_hemisphere.stl",
        "pieces.3mf",
        "report.json",
        "right_hemisphere.stl",
        "segmentation.nii.gz",
    ]
    for name in ("labels.nii.gz", "brain.nii.gz"):
        assert (new / "files" / name).read_bytes() == (brain_run.out / "files" / name).read_bytes()
    assert sorted((p.name, p.stat().st_mtime_ns) for p in brain_run.out.rglob("*")) == before


def test_remake_of_a_folder_without_a_label_map_says_so(tmp_path: Path) -> None:
    (tmp_path / "old").mkdir()
    done = cli("--remake", str(tmp_path / "old"), "--out", str(tmp_path / "new"), "--quiet")
    assert done.returncode == EXIT_BAD_INPUT
    assert "not_remakeable" in done.stderr and "Traceback" not in done.stderr
