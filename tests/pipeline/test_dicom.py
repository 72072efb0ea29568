"""Zipped DICOM series: conversion with the dcm2niix binary, choice of series, no DICOM kept."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from gpu_worker.pipeline.dicom import choose_series, convert_dicom_zip, dcm2niix_binary
from gpu_worker.pipeline.errors import InputError
from gpu_worker.pipeline.load import load_scan
from tests.support.data import shared_file
from tests.support.dicom_series import dicom_cd_zip


@pytest.fixture
def dicom_zip(tmp_path: Path) -> Path:
    """The three real MPRAGE slices from ../shared/data, zipped in a sub-folder with clutter."""
    folder = shared_file("dicom_series")
    archive = tmp_path / "upload.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for dcm in sorted(folder.glob("*.dcm")):
            z.write(dcm, f"PATIENT/STUDY/{dcm.name}")
        z.writestr("__MACOSX/._1-001.dcm", b"resource fork")
        z.writestr("PATIENT/.DS_Store", b"finder")
    return archive


def test_dcm2niix_comes_from_the_installed_package() -> None:
    binary = dcm2niix_binary()
    assert binary.is_file()
    assert "site-packages" in str(binary) or "dist-packages" in str(binary)


def test_series_is_converted_and_the_dicom_files_are_deleted(
    dicom_zip: Path, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    converted = convert_dicom_zip(dicom_zip, work)
    image = nib.load(str(converted.path))
    assert image.shape == (512, 512, 3)
    assert converted.info["series_number"] == 2
    assert converted.info["description"] == "t1_mpr_tra_gk_v4"
    # Then nothing of the extracted DICOM remains
    assert not (work / "dicom").exists()
    assert not list(work.rglob("*.dcm"))


def test_three_slices_convert_but_are_refused_as_too_thin_to_be_a_brain(
    dicom_zip: Path, tmp_path: Path
) -> None:
    job = tmp_path / "job"
    with pytest.raises(InputError) as caught:
        load_scan(dicom_zip, workdir=job)
    assert caught.value.code == "image_too_small"
    assert "512×512×3" in caught.value.message
    # and no DICOM or converted file is left in the job's folder
    assert list(job.iterdir()) == []


def test_a_hospital_cd_zip_gives_back_the_same_volume_in_world_space(
    brain_2mm: Path, tmp_path: Path
) -> None:
    # Given a real brain written as a DICOMDIR file set (axial slices in LPS, a localizer)
    cd = dicom_cd_zip(brain_2mm, tmp_path / "cd.zip")
    # When it is loaded
    job = tmp_path / "job"
    scan = load_scan(cd, workdir=job)
    # Then the brain series was chosen and is voxel for voxel the volume it was made from,
    # at the same place in world space
    source = nib.load(str(brain_2mm))
    assert scan.info["series"]["series_number"] == 3
    assert scan.info["series"]["series_converted"] == 2
    np.testing.assert_array_equal(scan.data, np.asarray(source.dataobj, dtype=np.float32))
    np.testing.assert_allclose(scan.affine, source.affine, atol=1e-3)
    # and neither the DICOM files nor the converted copy stay in the job's folder
    assert list(job.iterdir()) == []


def test_largest_3d_series_is_chosen(tmp_path: Path) -> None:
    # Given dcm2niix outputs: a localizer (2D), a small 3D series and a large 3D series
    outputs = {"series_1": (256, 256, 1), "series_2": (64, 64, 40), "series_3": (176, 240, 256)}
    for name, shape in outputs.items():
        nib.save(
            nib.Nifti1Image(np.zeros(shape, np.int16), np.eye(4)), str(tmp_path / f"{name}.nii")
        )
        number = int(name[-1])
        (tmp_path / f"{name}.json").write_text(
            json.dumps({"SeriesNumber": number, "SeriesDescription": f"protocol {number}"})
        )
    chosen = choose_series(tmp_path)
    assert chosen.path.name == "series_3.nii"
    assert chosen.info["series_number"] == 3
    assert chosen.info["description"] == "protocol 3"
    assert chosen.info["series_converted"] == 3
