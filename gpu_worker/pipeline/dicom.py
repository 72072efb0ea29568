"""DICOM series in a zip: safe extraction, conversion with dcm2niix, choice of one series."""

from __future__ import annotations

import json
import logging
import re
import shutil
import stat
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import nibabel as nib
import numpy as np

from gpu_worker.pipeline.defaults import (
    DEFAULT_DCM2NIIX_TIMEOUT_SECONDS,
    DEFAULT_ZIP_MAX_MEMBER_RATIO,
    DEFAULT_ZIP_MAX_MEMBERS,
    DEFAULT_ZIP_MAX_RATIO,
    DEFAULT_ZIP_MAX_UNCOMPRESSED_BYTES,
)
from gpu_worker.pipeline.errors import InputError

logger = logging.getLogger(__name__)

_CHUNK = 1024 * 1024
_DRIVE = re.compile(r"^[A-Za-z]:")


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


def _unsafe_name(name: str) -> bool:
    if name.startswith(("/", "\\")) or _DRIVE.match(name) or "\x00" in name:
        return True
    parts = PurePosixPath(name.replace("\\", "/")).parts
    return ".." in parts


def _skipped(info: zipfile.ZipInfo) -> bool:
    """Folders and operating-system clutter (``__MACOSX/``, ``.DS_Store``) are not DICOM files."""
    parts = PurePosixPath(info.filename.replace("\\", "/")).parts
    return info.is_dir() or not parts or parts[0] == "__MACOSX" or parts[-1].startswith(".")


def check_zip(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """Refuse archives that could escape the folder or fill the disk; return the members to read.

    Everything is decided from the central directory before one byte is inflated; the sizes it
    declares are enforced again while extracting, since an archive can lie about them.
    """
    infos = archive.infolist()
    if len(infos) > DEFAULT_ZIP_MAX_MEMBERS:
        raise InputError(
            f"The zip holds {len(infos)} files; at most {DEFAULT_ZIP_MAX_MEMBERS} are accepted.",
            code="zip_too_many_files",
        )
    for info in infos:
        if _unsafe_name(info.filename):
            raise InputError(
                "The zip contains a file path that points outside the archive "
                f"({info.filename!r}); it was refused.",
                code="zip_unsafe_path",
            )
        if stat.S_ISLNK(info.external_attr >> 16):
            raise InputError(
                "The zip contains a symbolic link; it was refused.", code="zip_symlink"
            )
        if info.flag_bits & 0x1:
            raise InputError("The zip is password-protected.", code="zip_encrypted")
    members = [i for i in infos if not _skipped(i)]
    total = sum(i.file_size for i in members)
    packed = sum(i.compress_size for i in members)
    if total > DEFAULT_ZIP_MAX_UNCOMPRESSED_BYTES:
        raise InputError(
            f"The zip would expand to {total / 1024**3:.1f} GiB; at most "
            f"{DEFAULT_ZIP_MAX_UNCOMPRESSED_BYTES / 1024**3:.0f} GiB are accepted.",
            code="zip_too_large",
        )
    if total > _CHUNK and total / max(packed, 1) > DEFAULT_ZIP_MAX_RATIO:
        raise InputError(
            "The zip is compressed far more than medical images can be (a zip bomb?).",
            code="zip_bomb",
        )
    for info in members:
        if info.file_size > _CHUNK and info.file_size / max(info.compress_size, 1) > (
            DEFAULT_ZIP_MAX_MEMBER_RATIO
        ):
            raise InputError(
                f"A file in the zip is compressed {info.file_size // max(info.compress_size, 1)}"
                " times, far more than a medical image can be (a zip bomb?).",
                code="zip_bomb",
            )
    return members


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
