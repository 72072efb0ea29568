"""``python -m gpu_worker INPUT --out DIR`` as a person runs it."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np

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
