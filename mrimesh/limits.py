"""Limits on what an upload may be, shared by the API's gate and the worker's loader."""

from __future__ import annotations

#: File name endings we accept, mapped to the kind of input they hold.
ACCEPTED_SUFFIXES: dict[str, str] = {
    ".nii.gz": "nifti",
    ".nii": "nifti",
    ".mgz": "mgz",
    ".zip": "dicom-zip",
}
#: Largest image we process, in voxels (about 640³).
MAX_VOXELS = 256 * 1024**2
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
