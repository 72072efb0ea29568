"""Step 1, "Loading scan": read NIfTI, MGZ or a zipped DICOM series into one 3D float volume.

Everything that can be decided from the header (dimensions, data type, size) is decided before
the voxel data is read, so a file claiming 100000³ voxels costs nothing.
"""

from __future__ import annotations

import gzip
import logging
import struct
import tempfile
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np

from gpu_worker.pipeline.anonymize import scrub_nifti_header
from gpu_worker.pipeline.defaults import (
    DEFAULT_MAX_VOXEL_MM,
    DEFAULT_MIN_FOV_MM,
    DEFAULT_MIN_NEIGHBOUR_CORRELATION,
)
from gpu_worker.pipeline.dicom import convert_dicom_zip
from gpu_worker.pipeline.errors import InputError
from gpu_worker.pipeline.types import Scan
from gpu_worker.progress import report_fraction
from mrimesh import limits

logger = logging.getLogger(__name__)

_HEADER_BYTES = 544


def sniff(path: Path) -> str:
    """What ``path`` holds, judged by its bytes: "nifti1", "nifti2", "mgh" or "zip"."""
    try:
        with open(path, "rb") as f:
            head = f.read(_HEADER_BYTES)
    except OSError as e:
        raise InputError("The file could not be read.", code="unreadable") from e
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if head[:2] == b"\x1f\x8b":
        try:
            with gzip.open(path, "rb") as f:
                head = f.read(_HEADER_BYTES)
        except (OSError, EOFError, zlib.error) as e:
            raise InputError("The file is a damaged gzip archive.", code="damaged_file") from e
    kind = _kind_from_header(head)
    if kind is None:
        raise InputError(_not_an_image_reason(head), code="not_medical_image")
    return kind


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def _kind_from_header(head: bytes) -> str | None:
    if len(head) >= 348:
        for endian in "<>":
            (size,) = struct.unpack(endian + "i", head[:4])
            if size == 348 and head[344:347] in (b"n+1", b"ni1"):
                return "nifti1"
            if size == 540 and head[4:7] in (b"n+2", b"ni2"):
                return "nifti2"
    if len(head) >= 284:
        version, *dims = struct.unpack(">iiiii", head[:20])
        if version == 1 and all(0 < d < 2**20 for d in dims):
            return "mgh"
    return None


def _not_an_image_reason(head: bytes) -> str:
    known = {
        b"\x89PNG": "a PNG picture",
        b"\xff\xd8\xff": "a JPEG picture",
        b"%PDF": "a PDF document",
        b"GIF8": "a GIF picture",
    }
    for magic, what in known.items():
        if head.startswith(magic):
            return (
                f"This file is {what}, not an MRI volume. "
                "Upload NIfTI, MGZ or a zipped DICOM series."
            )
    if head[128:132] == b"DICM":
        return "This is a single DICOM image; upload the whole series as one zip file."
    return "This file is not a NIfTI, MGZ or zipped DICOM MRI volume."


_SUFFIX = {"nifti1": ".nii", "nifti2": ".nii", "mgh": ".mgh"}
_KIND_NAMES = {"nifti1": "nifti", "nifti2": "nifti2", "mgh": "mgz", "zip": "dicom_zip"}


def load_scan(path: Path, workdir: Path | None = None) -> Scan:
    """Read ``path`` into a :class:`Scan`, or raise :class:`InputError` saying what is wrong.

    Scratch files (an unzipped DICOM series, its conversion) go to a temporary folder inside
    ``workdir`` (the job's own folder, so that a worker killed mid-way leaves nothing outside
    what the janitor cleans) and are deleted before this returns.
    """
    path = Path(path)
    kind = sniff(path)
    if workdir is not None:
        Path(workdir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".mrimesh-load-", dir=workdir) as tmp:
        series_info = None
        if kind == "zip":
            converted = convert_dicom_zip(path, Path(tmp))
            report_fraction(0.5)
            image_path, series_info = converted.path, converted.info
            kind_name = "dicom_zip"
            kind = "nifti1"
        else:
            # Give nibabel a name whose suffix matches the bytes, whatever the upload was called.
            gz = _is_gzip(path)
            image_path = Path(tmp) / ("scan" + _SUFFIX[kind] + (".gz" if gz else ""))
            if kind == "mgh" and gz:
                image_path = Path(tmp) / "scan.mgz"
            image_path.symlink_to(path.resolve())
            kind_name = _KIND_NAMES[kind]
        scan = _read_image(image_path, kind)
    scan.info["kind"] = kind_name
    if series_info is not None:
        scan.info["series"] = series_info
    return scan


def _open(image_path: Path, kind: str) -> nib.spatialimages.SpatialImage:
    klass = {
        "nifti1": nib.Nifti1Image,
        "nifti2": nib.Nifti2Image,
        "mgh": nib.MGHImage,
    }[kind]
    try:
        return klass.from_filename(str(image_path))
    except (nib.filebasedimages.ImageFileError, nib.spatialimages.HeaderDataError) as e:
        raise InputError(f"The image header is invalid ({e}).", code="bad_header") from e
    except (OSError, EOFError, ValueError, zlib.error, struct.error) as e:
        raise InputError("The file is truncated or damaged.", code="damaged_file") from e


def check_header(img: nib.spatialimages.SpatialImage) -> tuple[int, ...]:
    """Reject what the header alone shows to be unusable (the API's gate asks the same
    :func:`mrimesh.limits.shape_problem`); return the 3D shape to read."""
    shape = tuple(int(s) for s in img.shape)
    problem = limits.shape_problem(shape, img.get_data_dtype())
    if problem is not None:
        raise InputError(problem.message, code=problem.code)
    return shape[:3]


def check_geometry(affine: np.ndarray, spatial: tuple[int, ...]) -> None:
    """Reject affines that are not a plausible voxel-to-mm mapping for a whole-brain scan."""
    if not np.all(np.isfinite(affine)) or abs(np.linalg.det(affine[:3, :3])) < 1e-9:
        raise InputError("The image orientation (affine) in the header is invalid.", "bad_affine")
    zooms = np.linalg.norm(affine[:3, :3], axis=0)
    if zooms.max() > DEFAULT_MAX_VOXEL_MM:
        raise InputError(
            f"Voxels of {zooms.max():.1f} mm are too coarse for a brain model "
            f"(at most {DEFAULT_MAX_VOXEL_MM:.0f} mm).",
            code="too_coarse",
        )
    fov = zooms * np.asarray(spatial)
    if fov.min() < DEFAULT_MIN_FOV_MM:
        raise InputError(
            f"The scan covers only {fov.min():.0f} mm along one axis; a whole-brain scan needs "
            f"at least {DEFAULT_MIN_FOV_MM:.0f} mm in every direction.",
            code="image_too_small",
        )


def _read_image(image_path: Path, kind: str) -> Scan:
    img = _open(image_path, kind)
    spatial = check_header(img)
    affine = np.asarray(img.affine, dtype=np.float64)
    check_geometry(affine, spatial)
    shape = tuple(int(s) for s in img.shape)
    notes: list[str] = []
    try:
        if len(shape) > 3:
            n_volumes = int(np.prod(shape[3:]))
            index = (slice(None),) * 3 + (0,) * (len(shape) - 3)
            data = np.asarray(img.dataobj[index], dtype=np.float32)
            if n_volumes > 1:
                notes.append(f"4D input with {n_volumes} volumes: only the first volume was used.")
        else:
            data = np.asarray(img.dataobj, dtype=np.float32)
    except (OSError, EOFError, ValueError, zlib.error, struct.error) as e:
        raise InputError("The file is truncated or damaged.", code="damaged_file") from e
    data = np.ascontiguousarray(data.reshape(spatial))
    finite = np.isfinite(data)
    if not finite.all():
        bad = int(data.size - np.count_nonzero(finite))
        raise InputError(
            f"The volume contains {bad:,} NaN or infinite values; upload the original scan.",
            code="non_finite",
        )
    lo, hi = float(data.min()), float(data.max())
    if lo == hi:
        what = "all zero" if hi == 0 else "a single constant value"
        raise InputError(f"The volume is {what}: there is no image in it.", code="empty")
    if neighbour_correlation(data) < DEFAULT_MIN_NEIGHBOUR_CORRELATION:
        raise InputError(
            "The volume has no spatial structure (it looks like random noise), so it is not an "
            "MRI scan.",
            code="no_structure",
        )
    header = _output_header(img, affine)
    info: dict[str, object] = {
        "shape": list(spatial),
        "file_shape": list(shape),
        "voxel_size_mm": [round(float(z), 4) for z in np.linalg.norm(affine[:3, :3], axis=0)],
        "voxels": int(np.prod(spatial)),
        "dtype": str(img.get_data_dtype()),
        "orientation": "".join(nib.aff2axcodes(affine)),
        "notes": notes,
    }
    return Scan(data=data, affine=affine, header=header, info=info)


def neighbour_correlation(data: np.ndarray) -> float:
    """Correlation of each voxel with its neighbour along the first axis (on a 1-in-4 subsample
    of the other two): above 0.9 for any real scan, about 0 for noise."""
    sample = data[:, ::2, ::2].astype(np.float64)
    centred = sample - sample.mean()
    denominator = float((centred * centred).sum())
    if denominator <= 0:
        return 0.0
    return float((centred[1:] * centred[:-1]).sum() / denominator)


def _output_header(img: nib.spatialimages.SpatialImage, affine: np.ndarray) -> nib.Nifti1Header:
    """A NIfTI-1 header for files written in the input's grid, with every text field cleared."""
    if isinstance(img, nib.Nifti1Image | nib.Nifti2Image):
        codes = int(img.header["sform_code"]), int(img.header["qform_code"])
    else:
        codes = 1, 1
    out = nib.Nifti1Header()
    out.set_data_shape(img.shape[:3])
    out.set_sform(affine, code=codes[0] or 1)
    out.set_qform(affine, code=codes[1] or 1)
    out.set_xyzt_units("mm", "sec")
    return scrub_nifti_header(out)
