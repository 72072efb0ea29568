"""Limits on what an upload may be, shared by the API's gate and the worker's loader."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mrimesh.errors import ErrorCode

#: File name endings we accept, mapped to the kind of input they hold.
ACCEPTED_SUFFIXES: dict[str, str] = {
    ".nii.gz": "nifti",
    ".nii": "nifti",
    ".mgz": "mgz",
    ".zip": "dicom-zip",
}
#: Largest image we process, in voxels (about 640³).
MAX_VOXELS = 256 * 1024**2
#: Largest size of one 3D volume's data as stored, in bytes (2 GiB).
MAX_VOLUME_BYTES = 2 * 1024**3
#: Smallest edge of a 3D volume, in voxels, that can hold a brain.
MIN_EDGE_VOXELS = 16
#: Most members a DICOM zip may have.
MAX_ZIP_MEMBERS = 5000
#: Largest total uncompressed size of a DICOM zip, in bytes (4 GiB).
MAX_ZIP_UNCOMPRESSED_BYTES = 4 * 1024**3
#: Largest compression ratio of any zip member over 1 MiB (a higher one is a zip bomb).
MAX_ZIP_RATIO = 200
#: Largest compression ratio of a whole zip over 1 MiB.
MAX_ZIP_TOTAL_RATIO = 100


def input_kind(filename: str) -> tuple[str, str] | None:
    """``(suffix, kind)`` for an accepted file name, else ``None``."""
    lower = filename.lower()
    for suffix, kind in ACCEPTED_SUFFIXES.items():
        if lower.endswith(suffix):
            return suffix, kind
    return None


@dataclass(frozen=True)
class ShapeProblem:
    """Why an image's header alone shows it cannot be a brain scan."""

    code: ErrorCode  #: the ``code`` of the JSON error or failed job
    message: str = ""  #: what the person who uploaded it reads (default: the code's words)

    def __post_init__(self) -> None:
        if not self.message:
            object.__setattr__(self, "message", self.code.message)


def shape_problem(shape: tuple[int, ...], dtype: np.dtype) -> ShapeProblem | None:
    """The first reason an image of this header ``shape`` and data ``dtype`` is unusable, or
    ``None``; the API's upload gate and the worker's loader both ask this before reading data."""
    dtype = np.dtype(dtype)
    if dtype.fields is not None:
        return ShapeProblem(ErrorCode.RGB)
    if dtype.kind == "c":
        return ShapeProblem(ErrorCode.COMPLEX)
    size = "×".join(map(str, shape))
    if len(shape) < 3 or min(shape[:3]) <= 1:
        return ShapeProblem(
            ErrorCode.NOT_3D, f"This image is 2D ({size}); a 3D brain scan is needed."
        )
    if len(shape) > 4 and any(n > 1 for n in shape[4:]):
        return ShapeProblem(
            ErrorCode.TOO_MANY_DIMENSIONS,
            f"This image has {len(shape)} dimensions ({size}), e.g. a vector or tensor field; "
            "a 3D (or 4D) brain scan is needed.",
        )
    spatial = "×".join(map(str, shape[:3]))
    voxels = int(np.prod(shape[:3], dtype=np.int64))
    if voxels > MAX_VOXELS or voxels * dtype.itemsize > MAX_VOLUME_BYTES:
        return ShapeProblem(
            ErrorCode.IMAGE_TOO_LARGE,
            f"This image is too large ({spatial} voxels); the limit is "
            f"{MAX_VOXELS // 1024**2} million voxels.",
        )
    if min(shape[:3]) < MIN_EDGE_VOXELS:
        return ShapeProblem(
            ErrorCode.IMAGE_TOO_SMALL,
            f"This image is too small to hold a brain ({spatial} voxels).",
        )
    return None
