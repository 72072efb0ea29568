"""Cheap checks on an uploaded file before it is enqueued: type, magic bytes, header, zip safety.

These read headers and directory entries only, never the image data; the worker's loader does the
deep checks. Each failure raises :class:`InputRejected` with a message a person understands.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib

from mrimesh import limits
from mrimesh.errors import ErrorCode
from mrimesh.zip_safety import ZipRefusedError, check_zip_directory

_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MAGIC = b"PK\x03\x04"
_NIFTI_HEADER_SIZES = (348, 540)


class InputRejected(Exception):  # noqa: N818 - reads as the event
    """The upload is not something we can process."""

    def __init__(self, message: str | None = None, code: ErrorCode = ErrorCode.INVALID_IMAGE):
        self.code = ErrorCode(code)
        self.message = message or self.code.message
        super().__init__(self.message)


@dataclass(frozen=True)
class CheckedInput:
    """What the gate learned about an accepted upload."""

    kind: str
    voxels: int | None


def check_upload(path: Path, kind: str) -> CheckedInput:
    """Validate the stored upload at ``path`` of the declared ``kind``."""
    size = path.stat().st_size
    if size == 0:
        raise InputRejected(code=ErrorCode.EMPTY_FILE)
    with path.open("rb") as f:
        head = f.read(4)
    if kind == "dicom-zip":
        if head != _ZIP_MAGIC:
            raise InputRejected("This .zip file is not a valid zip archive.", ErrorCode.INVALID_ZIP)
        _check_zip(path)
        return CheckedInput(kind=kind, voxels=None)
    if path.name.endswith(".gz") and head[:2] != _GZIP_MAGIC:
        raise InputRejected(
            "This .nii.gz file is not gzip-compressed; is it really a NIfTI file?",
            ErrorCode.INVALID_IMAGE,
        )
    return CheckedInput(kind=kind, voxels=_check_header(path, kind))


def _check_header(path: Path, kind: str) -> int:
    if kind == "nifti" and not path.name.endswith(".gz"):
        with path.open("rb") as f:
            sizeof_hdr = int.from_bytes(f.read(4), "little")
            if sizeof_hdr not in _NIFTI_HEADER_SIZES:
                sizeof_hdr = int.from_bytes(sizeof_hdr.to_bytes(4, "little"), "big")
        if sizeof_hdr not in _NIFTI_HEADER_SIZES:
            raise InputRejected("This file is not a NIfTI image (its header is missing).")
    try:
        image = nib.load(str(path))
        shape = tuple(int(n) for n in image.header.get_data_shape())
        dtype = image.header.get_data_dtype()
    except Exception as e:  # nibabel raises many types for damaged or foreign files
        raise InputRejected(
            "This file could not be read as a brain MRI (NIfTI or MGZ); it may be damaged "
            "or of another type.",
            ErrorCode.INVALID_IMAGE,
        ) from e
    problem = limits.shape_problem(shape, dtype)
    if problem is not None:
        raise InputRejected(problem.message, problem.code)
    return shape[0] * shape[1] * shape[2]


def _check_zip(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            members = check_zip_directory(archive)
    except (zipfile.BadZipFile, OSError) as e:
        raise InputRejected(code=ErrorCode.INVALID_ZIP) from e
    except ZipRefusedError as e:
        raise InputRejected(e.message, e.code) from e
    if not members:
        raise InputRejected("The zip file is empty.", ErrorCode.INVALID_ZIP)
