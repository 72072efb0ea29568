"""DICOM series in a zip: safe extraction, conversion with dcm2niix, choice of one series."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

from gpu_worker.pipeline.defaults import (
    DEFAULT_DCM2NIIX_TIMEOUT_SECONDS,
    DEFAULT_ZIP_MAX_UNCOMPRESSED_BYTES,
)
from gpu_worker.pipeline.errors import InputError
from mrimesh.zip_safety import ZipRefusedError, check_zip_directory

logger = logging.getLogger(__name__)

_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class ConvertedSeries:
    """The NIfTI file dcm2niix made from the chosen series, and what the report says about it."""

    path: Path
    info: dict[str, object]


def dcm2niix_binary() -> Path:
    """The ``dcm2niix`` executable shipped inside the installed ``dcm2niix`` wheel."""
    import dcm2niix

    path = Path(dcm2niix.bin_path)
    if not path.is_file():
        raise RuntimeError(f"dcm2niix binary missing from the installed package at {path}")
    return path


def check_zip(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """The members to read, or :class:`InputError` for an unsafe archive (see zip_safety)."""
    try:
        return check_zip_directory(archive)
    except ZipRefusedError as e:
        raise InputError(e.message, code=e.code) from e


def extract_members(
    archive: zipfile.ZipFile, members: list[zipfile.ZipInfo], dest: Path
) -> list[Path]:
    """Write each member to ``dest`` under a generated name (``000001.dcm``...), never its own."""
    dest.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    budget = DEFAULT_ZIP_MAX_UNCOMPRESSED_BYTES
    for index, info in enumerate(members):
        target = dest / f"{index:06d}.dcm"
        size = 0
        try:
            with archive.open(info) as src, open(target, "wb") as out:
                while chunk := src.read(_CHUNK):
                    size += len(chunk)
                    budget -= len(chunk)
                    if size > info.file_size or budget < 0:
                        raise InputError(
                            "The zip expands to more data than it declares (a zip bomb?).",
                            code="zip_bomb",
                        )
                    out.write(chunk)
        except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError) as e:
            raise InputError(
                f"The zip is damaged and could not be unpacked ({e}).", code="zip_damaged"
            ) from e
        written.append(target)
    return written


def convert_dicom_zip(zip_path: Path, workdir: Path) -> ConvertedSeries:
    """Unpack a zipped DICOM series into ``workdir``, convert it, delete the DICOM files.

    When the archive holds several series, the 3D series with the most voxels is kept and the
    report says which one.
    """
    dicom_dir = workdir / "dicom"
    nifti_dir = workdir / "nifti"
    nifti_dir.mkdir(parents=True, exist_ok=True)
    try:
        try:
            archive = zipfile.ZipFile(zip_path)
        except (zipfile.BadZipFile, OSError) as e:
            raise InputError(
                "The file looks like a zip but cannot be opened.", "zip_damaged"
            ) from e
        with archive:
            members = check_zip(archive)
            if not members:
                raise InputError("The zip is empty.", code="no_dicom")
            extract_members(archive, members, dicom_dir)
        _run_dcm2niix(dicom_dir, nifti_dir)
    finally:
        shutil.rmtree(dicom_dir, ignore_errors=True)
    return choose_series(nifti_dir)


def _run_dcm2niix(dicom_dir: Path, nifti_dir: Path) -> None:
    cmd = [
        str(dcm2niix_binary()),
        "-z", "n",  # uncompressed: read once, straight away
        "-b", "y", "-ba", "y",  # anonymised sidecar for the series description
        "-i", "y",  # skip derived images, localizers and 2D images
        "-g", "i",  # ignore any user defaults file
        "-w", "2",  # never overwrite: add a suffix
        "-f", "series_%s",
        "-o", str(nifti_dir),
        str(dicom_dir),
    ]  # fmt: skip
    try:
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=DEFAULT_DCM2NIIX_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired as e:
        raise InputError("Converting the DICOM series took too long.", "dicom_timeout") from e
    logger.debug("dcm2niix exit %s: %s", proc.returncode, proc.stdout[-2000:])
    if proc.returncode not in (0, 2) and not any(nifti_dir.glob("*.nii")):
        raise InputError(
            "The DICOM files in the zip could not be converted to a 3D volume.",
            code="dicom_unconvertible",
        )


def choose_series(nifti_dir: Path) -> ConvertedSeries:
    """Pick, among dcm2niix's outputs in ``nifti_dir``, the 3D series with the most voxels."""
    candidates = []
    for path in sorted(nifti_dir.glob("*.nii")):
        try:
            shape = nib.load(path).shape
        except (nib.filebasedimages.ImageFileError, OSError, ValueError):
            continue
        spatial = tuple(int(s) for s in shape[:3])
        is_3d = len(spatial) == 3 and min(spatial) > 1
        candidates.append((is_3d, int(np.prod(spatial)), path, shape))
    if not candidates:
        raise InputError(
            "The zip holds no DICOM image series that could be converted to a 3D volume.",
            code="no_dicom",
        )
    candidates.sort(key=lambda c: (c[0], c[1]), reverse=True)
    _, _, path, shape = candidates[0]
    sidecar = _read_sidecar(path.with_suffix(".json"))
    info: dict[str, object] = {
        "series_number": sidecar.get("SeriesNumber"),
        "description": sidecar.get("SeriesDescription") or sidecar.get("ProtocolName"),
        "shape": [int(s) for s in shape],
        "series_converted": len(candidates),
    }
    return ConvertedSeries(path=path, info=info)


def _read_sidecar(path: Path) -> dict[str, object]:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return {}
