"""The whole pipeline on a real brain: files, report, progress, cancellation, anonymity."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from gpu_worker.pipeline.options import PipelineOptions
from gpu_worker.pipeline.run import run_pipeline
from gpu_worker.progress import Cancelled, reporting_to
from mrimesh.config import Settings
from mrimesh.contract import STEP_IDS, Step
from tests.pipeline.conftest import PHI, Run
from tests.support.data import shared_file

MESH_FORMATS = ("stl", "obj", "ply", "glb")


def test_every_structure_is_written_in_every_format(brain_run: Run) -> None:
    names = [s["name"] for s in brain_run.report["structures"]]
    assert names[:2] == ["brain", "white_matter"]
    for structure in brain_run.report["structures"]:
        assert set(structure["files"]) == set(MESH_FORMATS)
        for fmt, name in structure["files"].items():
            path = brain_run.out / name
            assert name == f"{structure['name']}.{fmt}"
            assert path.stat().st_size > 1000


def test_the_default_formats_are_stl_glb_and_3mf() -> None:
    # OBJ and PLY are written only when asked for (issue 13): they cost time and zip size; 3MF
    # joined the defaults once it existed (plan contract 5, issue 11).
    assert PipelineOptions().formats == ("stl", "glb", "3mf")


def test_report_json_matches_the_returned_report(brain_run: Run) -> None:
    on_disk = json.loads((brain_run.out / "report.json").read_text())
    assert on_disk == json.loads(json.dumps(brain_run.report))


def test_report_describes_input_model_structures_and_timing(brain_run: Run) -> None:
    report = brain_run.report
    source = nib.load(str(brain_run.input))
    assert report["input"]["shape"] == list(source.shape)
    assert report["input"]["voxel_size_mm"] == [2.0, 2.0, 2.0]
    assert report["input"]["voxels"] == int(np.prod(source.shape)) == report["input_voxels"]
    assert report["input"]["kind"] == "nifti"
    assert report["model"]["name"] == "deepbet" and report["model"]["version"].startswith("1.0.2")
    assert report["device"].startswith("cpu")
    # all but packaging (and the re-make's own first step)
    assert list(report["steps"]) == [s for s in STEP_IDS[:-1] if s != "loading_labels"]
    assert all(seconds >= 0 for seconds in report["steps"].values())
    for structure in report["structures"]:
        assert structure["watertight"] and structure["manifold"] and structure["outward_normals"]
        assert 0 < structure["triangles"] <= 20_000
    brain = report["structures"][0]
    assert brain["labels"] == [2, 3, 4] and brain["label"] is None
    assert 900 <= brain["volume_ml"] <= 2000
    assert report["structures"][1]["label"] == 3


def test_brain_surface_is_folded_not_a_blob(brain_run: Run) -> None:
    brain, white = brain_run.report["structures"][:2]
    assert brain["hull_area_ratio"] > 1.3
    assert white["hull_area_ratio"] > brain["hull_area_ratio"]


def test_segmentation_is_in_the_inputs_grid_and_affine(brain_run: Run) -> None:
    source = nib.load(str(brain_run.input))
    seg = nib.load(str(brain_run.out / "segmentation.nii.gz"))
    assert seg.shape == source.shape
    np.testing.assert_allclose(seg.affine, source.affine, atol=1e-5)
    labels = np.asarray(seg.dataobj)
    assert labels.dtype == np.uint8
    assert set(np.unique(labels)) <= {0, 1, 2, 3, 4}
    # and its brain sits where the input's brain is
    data = np.asarray(source.dataobj)
    assert data[labels > 0].mean() > 3 * data[labels == 0].mean()


def test_no_name_or_date_from_the_header_reaches_any_output(brain_run: Run) -> None:
    seg = nib.load(str(brain_run.out / "segmentation.nii.gz"))
    for field in ("descrip", "aux_file", "db_name", "intent_name"):
        assert seg.header[field].item() == b""
    assert len(seg.header.extensions) == 0
    for path in brain_run.out.rglob("*"):  # files/ too: the page's own copies
        if not path.is_file():
            continue
        raw = path.read_bytes()
        for secret in (b"Jane", b"1970-01-01", b"DOB19700101"):
            assert secret not in raw, (path.name, secret)
    assert PHI.encode() not in (brain_run.out / "report.json").read_bytes()


def test_every_step_reports_zero_then_one_in_order(brain_run: Run) -> None:
    scan_steps = [s for s in STEP_IDS[:-1] if s != "loading_labels"]
    steps = [step for step, _ in brain_run.calls]
    assert list(dict.fromkeys(steps)) == scan_steps
    for name in scan_steps:
        fractions = [f for step, f in brain_run.calls if step == name]
        assert fractions[0] == 0.0 and fractions[-1] == 1.0, name
        assert fractions == sorted(fractions), name
        assert len(fractions) <= 40, name


def test_cancellation_stops_the_pipeline_and_is_not_swallowed(
    brain_2mm: Path, tmp_path: Path, cpu_settings: Settings, fast_options: PipelineOptions
) -> None:
    seen: list[str] = []

    def cancel_at_meshing(step: str, fraction: float) -> None:
        seen.append(step)
        if step == Step.MESHING.value:
            raise Cancelled

    with reporting_to(cancel_at_meshing), pytest.raises(Cancelled):
        run_pipeline(brain_2mm, tmp_path / "out", fast_options, cpu_settings)
    assert seen[-1] == Step.MESHING.value
    assert not (tmp_path / "out" / "report.json").exists()


def test_formats_and_structures_can_be_chosen(
    brain_2mm: Path, tmp_path: Path, cpu_settings: Settings
) -> None:
    options = PipelineOptions(
        formats=("stl", "glb"), structures=("brain",), work_spacing_mm=2.0, target_triangles=5000
    )
    report = run_pipeline(brain_2mm, tmp_path / "out", options, cpu_settings)
    (brain,) = report["structures"]
    assert brain["name"] == "brain" and set(brain["files"]) == {"stl", "glb"}
    assert brain["triangles"] <= 5000
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["brain.glb", "brain.stl", "files", "report.json", "segmentation.nii.gz"]


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="formats"):
        PipelineOptions(formats=("fbx",))
    with pytest.raises(ValueError):
        PipelineOptions(target_triangles=10)


def test_unknown_structure_is_refused_before_segmenting(
    brain_2mm: Path, tmp_path: Path, cpu_settings: Settings
) -> None:
    options = PipelineOptions(structures=("cortex",), work_spacing_mm=2.0)
    with pytest.raises(ValueError, match="cortex"):
        run_pipeline(brain_2mm, tmp_path / "out", options, cpu_settings)


def test_a_flair_scan_gets_meshes_and_a_note_that_its_white_matter_is_unreliable(
    tmp_path: Path, cpu_settings: Settings
) -> None:
    # Given a real FLAIR scan (not the T1 the tissue model is made for)
    flair = shared_file("FLAIR.nii.gz")
    options = PipelineOptions(work_spacing_mm=2.0, target_triangles=5000, formats=("stl",))
    # When it is processed
    report = run_pipeline(flair, tmp_path / "out", options, cpu_settings)
    # Then the brain is meshed as usual, and the report (which the page shows) says why the
    # white-matter mesh is not to be trusted
    assert report["structures"][0]["name"] == "brain" and report["structures"][0]["watertight"]
    assert any("white matter" in n and "T1-weighted" in n for n in report["notes"])


def test_files_for_the_page_hold_no_face_and_the_working_grid_label_map(brain_run: Run) -> None:
    files = brain_run.out / "files"
    names = {p.name for p in files.iterdir()}
    assert {"brain.nii.gz", "labels.nii.gz", "report.json", "brain.glb", "brain.stl"} <= names
    labels = nib.load(str(files / "labels.nii.gz"))
    brain = nib.load(str(files / "brain.nii.gz"))
    assert labels.shape == brain.shape and np.allclose(labels.affine, brain.affine)
    assert brain_run.report["work_grid"]["shape"] == list(labels.shape)
    label_data = np.asarray(labels.dataobj)
    brain_data = np.asarray(brain.dataobj)
    assert brain_data.dtype == np.uint8
    assert not brain_data[label_data == 0].any()  # nothing outside the brain: no skull, no face
    assert brain_data[label_data > 0].mean() > 50
    # the label map is the segmentation of the report, in its own (working) grid
    volumes = brain_run.report["label_volumes_ml"]
    voxel_ml = abs(np.linalg.det(labels.affine[:3, :3])) / 1000
    assert np.count_nonzero(label_data == 3) * voxel_ml == pytest.approx(
        volumes["white_matter"], rel=1e-3
    )
    assert json.loads((files / "report.json").read_text()) == json.loads(
        (brain_run.out / "report.json").read_text()
    )
    assert (brain_run.out / "pieces.3mf").stat().st_size > 10_000
    assert brain_run.report["print"]["scale_percent"] == 100.0


def test_the_command_lines_imports_leave_out_monai_vtk_and_scikit_image() -> None:
    # MONAI (seconds to import) serves only operator-supplied bundles; VTK and scikit-image
    # serve the meshing helpers, not the process that runs the networks.
    code = (
        "import sys\n"
        "import gpu_worker.pipeline.cli, gpu_worker.pipeline.run, gpu_worker.pipeline.models\n"
        "print(' '.join(m for m in ('monai', 'vtkmodules', 'skimage') if m in sys.modules))\n"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == ""
