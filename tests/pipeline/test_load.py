"""Step 1: reading scans, and refusing what is not a usable 3D brain volume."""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from gpu_worker.pipeline.errors import InputError
from gpu_worker.pipeline.load import load_scan
from gpu_worker.progress import reporting_to, step
from mrimesh.contract import Step


def _save(tmp_path: Path, data: np.ndarray, name: str = "scan.nii.gz", affine=None) -> Path:
    path = tmp_path / name
    nib.save(nib.Nifti1Image(data, np.eye(4) if affine is None else affine), str(path))
    return path


def _rejects(path: Path, code: str) -> InputError:
    with pytest.raises(InputError) as caught:
        load_scan(path)
    assert caught.value.code == code, caught.value
    assert len(caught.value.message) > 20
    return caught.value


def test_nifti_loads_as_float_volume_with_its_affine(brain_2mm: Path) -> None:
    scan = load_scan(brain_2mm)
    image = nib.load(str(brain_2mm))
    assert scan.data.shape == image.shape
    assert scan.data.dtype == np.float32
    np.testing.assert_allclose(scan.affine, image.affine)
    assert scan.info["kind"] == "nifti"
    assert scan.info["voxels"] == int(np.prod(image.shape))
    assert scan.info["voxel_size_mm"] == [2.0, 2.0, 2.0]


def test_uncompressed_nifti_and_mgz_load_the_same_voxels(brain_2mm: Path, tmp_path: Path) -> None:
    image = nib.load(str(brain_2mm))
    data = np.asarray(image.dataobj)
    nii = tmp_path / "scan.nii"
    nib.save(image, str(nii))
    mgz = tmp_path / "scan.mgz"
    nib.save(nib.MGHImage(data.astype(np.float32), image.affine), str(mgz))
    reference = load_scan(brain_2mm)
    for path, kind in ((nii, "nifti"), (mgz, "mgz")):
        scan = load_scan(path)
        assert scan.info["kind"] == kind
        np.testing.assert_array_equal(scan.data, reference.data)
        np.testing.assert_allclose(scan.affine, reference.affine, atol=1e-4)


def test_file_name_does_not_matter_only_content(brain_2mm: Path, tmp_path: Path) -> None:
    renamed = tmp_path / "upload.bin"
    renamed.write_bytes(brain_2mm.read_bytes())
    assert load_scan(renamed).info["kind"] == "nifti"


def test_sheared_affine_and_integer_data_are_kept_exactly(tmp_path: Path) -> None:
    affine = np.array(
        [[0.9, 0.2, 0.0, -80.0], [0.0, 1.1, 0.3, -100.0], [0.1, 0.0, 1.2, -60.0], [0, 0, 0, 1]]
    )
    data = np.random.default_rng(0).integers(0, 3000, (80, 90, 70)).astype(np.int16)
    data = np.cumsum(data, axis=0).astype(np.int32)  # smooth along one axis: an image, not noise
    scan = load_scan(_save(tmp_path, data, affine=affine))
    np.testing.assert_allclose(scan.affine, affine, atol=1e-5)
    np.testing.assert_array_equal(scan.data, data.astype(np.float32))


def test_4d_input_keeps_the_first_volume_and_says_so(brain_2mm: Path, tmp_path: Path) -> None:
    image = nib.load(str(brain_2mm))
    first = np.asarray(image.dataobj).astype(np.float32)
    series = np.stack([first, first * 0.5 + 7, first[::-1]], axis=-1)
    scan = load_scan(_save(tmp_path, series, affine=image.affine))
    np.testing.assert_array_equal(scan.data, first)
    assert scan.info["file_shape"] == [*first.shape, 3]
    assert any("4D" in note and "first volume" in note for note in scan.info["notes"])


def test_loading_reports_progress_from_zero_to_one(brain_2mm: Path) -> None:
    calls: list[tuple[str, float]] = []
    with reporting_to(lambda step_id, f: calls.append((step_id, f))), step(Step.LOADING):
        load_scan(brain_2mm)
    assert calls[0] == (Step.LOADING.value, 0.0)
    assert calls[-1] == (Step.LOADING.value, 1.0)


def test_2d_image_is_refused(tmp_path: Path) -> None:
    _rejects(_save(tmp_path, np.ones((64, 64), np.int16)), "not_3d")
    _rejects(_save(tmp_path, np.ones((64, 64, 1), np.int16), "slab.nii.gz"), "not_3d")


def test_rgb_image_is_refused(tmp_path: Path) -> None:
    rgb = np.zeros((32, 32, 32), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    _rejects(_save(tmp_path, rgb), "rgb")


def test_5d_image_is_refused(tmp_path: Path) -> None:
    _rejects(_save(tmp_path, np.ones((20, 20, 20, 2, 3), np.int16)), "too_many_dimensions")


@pytest.mark.parametrize(
    ("fill", "code"), [(np.nan, "non_finite"), (np.inf, "non_finite"), (0.0, "empty")]
)
def test_nan_infinite_or_blank_volumes_are_refused(tmp_path: Path, fill: float, code: str) -> None:
    data = np.full((64, 64, 64), fill, np.float32)
    _rejects(_save(tmp_path, data), code)


def test_a_single_nan_voxel_is_enough_to_refuse(brain_2mm: Path, tmp_path: Path) -> None:
    image = nib.load(str(brain_2mm))
    data = np.asarray(image.dataobj).astype(np.float32)
    data[10, 10, 10] = np.nan
    error = _rejects(_save(tmp_path, data, affine=image.affine), "non_finite")
    assert "1 NaN" in error.message


def test_noise_is_not_a_scan(tmp_path: Path) -> None:
    noise = np.random.default_rng(0).normal(100, 30, (64, 64, 64)).astype(np.float32)
    _rejects(_save(tmp_path, noise), "no_structure")


def test_header_claiming_100000_cubed_voxels_is_refused_before_reading(tmp_path: Path) -> None:
    # Given a file that is only a header, so any attempt to read voxel data would fail otherwise
    header = nib.Nifti2Header()
    header.set_data_shape((100000, 100000, 100000))
    header.set_data_dtype(np.int16)
    path = tmp_path / "huge.nii"
    path.write_bytes(header.binaryblock + b"\x00" * 4)
    # Then it is refused for its size, from the header alone
    _rejects(path, "image_too_large")


def test_too_small_volumes_are_refused(tmp_path: Path) -> None:
    _rejects(_save(tmp_path, np.ones((7, 5, 3), np.uint8)), "image_too_small")
    # 64×64×10 voxels of 3 mm: enough voxels, but only 30 mm thick
    affine = np.diag([3.0, 3.0, 3.0, 1.0])
    slab = np.cumsum(np.ones((64, 64, 20)), axis=0)[:, :, :18]
    _rejects(_save(tmp_path, slab, "slab.nii.gz", affine), "image_too_small")


def test_truncated_gzip_is_refused(brain_2mm: Path, tmp_path: Path) -> None:
    raw = brain_2mm.read_bytes()
    cut = tmp_path / "cut.nii.gz"
    cut.write_bytes(raw[: len(raw) // 2])
    _rejects(cut, "damaged_file")


def test_truncated_uncompressed_nifti_is_refused(brain_2mm: Path, tmp_path: Path) -> None:
    raw = gzip.decompress(brain_2mm.read_bytes())
    cut = tmp_path / "cut.nii"
    cut.write_bytes(raw[: len(raw) // 3])
    _rejects(cut, "damaged_file")


def test_png_renamed_nii_is_refused_as_a_picture(tmp_path: Path) -> None:
    png = tmp_path / "scan.nii"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 600)
    error = _rejects(png, "not_medical_image")
    assert "PNG" in error.message


def test_text_and_empty_files_are_refused(tmp_path: Path) -> None:
    text = tmp_path / "notes.nii.gz"
    text.write_bytes(gzip.compress(b"Dear colleague, " * 100))
    _rejects(text, "not_medical_image")
    empty = tmp_path / "empty.nii"
    empty.write_bytes(b"")
    _rejects(empty, "not_medical_image")


def test_zip_slip_is_refused_and_nothing_is_written_outside(tmp_path: Path) -> None:
    archive = tmp_path / "inner" / "slip.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("series/IM1.dcm", b"x" * 500)
        z.writestr("../../evil.dcm", b"x" * 500)
    _rejects(archive, "zip_unsafe_path")
    assert not list(tmp_path.rglob("evil.dcm"))


def test_zip_with_absolute_path_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "abs.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("/etc/evil.dcm", b"x" * 500)
    _rejects(archive, "zip_unsafe_path")


def test_zip_without_dicom_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "docs.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("README.txt", b"hello")
        z.writestr("notes/a.txt", b"more text")
    _rejects(archive, "no_dicom")


def test_zip_bomb_is_refused_before_inflating(tmp_path: Path) -> None:
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("IM1.dcm", b"\x00" * (64 * 1024**2))
    assert archive.stat().st_size < 1024**2
    _rejects(archive, "zip_bomb")
