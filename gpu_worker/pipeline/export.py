"""Step 6, "Exporting": the label map in the input's grid, and report.json.

Each structure's mesh files are written where it is meshed (:mod:`.meshing.build`, in a helper
process), by :func:`gpu_worker.pipeline.meshing.writers.write_mesh`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

from gpu_worker.pipeline.anonymize import scrub_nifti_header
from gpu_worker.pipeline.types import Scan, Segmentation

SEGMENTATION_FILE = "segmentation.nii.gz"
REPORT_FILE = "report.json"


def _whole_voxel_view(
    labels: np.ndarray, to_work: np.ndarray, shape: tuple[int, ...]
) -> np.ndarray | None:
    """``labels`` read through ``to_work`` by slicing alone, or None when that cannot be done.

    That is the case when ``to_work`` (input voxel -> working voxel) only permutes and flips
    axes and shifts by whole voxels, and the input grid lands inside the working grid: the
    usual case, since the working grid is the input's, reoriented, when no resampling was needed.
    """
    linear, offset = to_work[:3, :3], to_work[:3, 3]
    signs = np.rint(linear)
    if not (np.allclose(linear, signs, atol=1e-6) and np.allclose(offset, np.rint(offset))):
        return None
    signs, offset = signs.astype(int), np.rint(offset).astype(int)
    if not (np.all(np.abs(signs).sum(axis=0) == 1) and np.all(np.abs(signs).sum(axis=1) == 1)):
        return None
    source = np.abs(signs).argmax(axis=1)  # the input axis each working axis follows
    slices = []
    for axis in range(3):
        step, start, count = int(signs[axis, source[axis]]), int(offset[axis]), shape[source[axis]]
        stop = start + step * (count - 1)
        if min(start, stop) < 0 or max(start, stop) >= labels.shape[axis]:
            return None
        slices.append(slice(start, stop + step if stop + step >= 0 else None, step))
    return labels[tuple(slices)].transpose(np.argsort(source))


def labels_in_input_space(seg: Segmentation, scan: Scan) -> np.ndarray:
    """The working-grid label map resampled (nearest neighbour) onto the input's voxel grid."""
    to_work = np.linalg.inv(seg.affine) @ scan.affine
    shape = scan.data.shape[:3]
    view = _whole_voxel_view(seg.labels, to_work, shape)
    if view is not None:
        return np.ascontiguousarray(view, dtype=np.uint8)
    return ndimage.affine_transform(
        seg.labels,
        to_work[:3, :3],
        offset=to_work[:3, 3],
        output_shape=shape,
        order=0,
        mode="constant",
        cval=0,
        prefilter=False,
    ).astype(np.uint8)


def write_segmentation(seg: Segmentation, scan: Scan, path: Path) -> None:
    """Write the label map as NIfTI in the input's grid and affine, header text fields cleared."""
    labels = labels_in_input_space(seg, scan)
    header = scrub_nifti_header(scan.header)
    header.set_data_dtype(np.uint8)
    header["cal_min"], header["cal_max"] = 0, max(seg.names) if seg.names else 0
    img = nib.Nifti1Image(labels, scan.affine, header)
    img.set_sform(scan.affine, code=int(header["sform_code"]) or 1)
    img.set_qform(scan.affine, code=int(header["qform_code"]) or 1)
    img.header.set_intent("label")
    img.header["intent_name"] = b""
    img.to_filename(str(path))


def write_report(report: dict, out_dir: Path) -> Path:
    """Write ``report`` as report.json (via a temporary file, so readers never see half of it)."""
    path = out_dir / REPORT_FILE
    tmp = path.with_name(f".{REPORT_FILE}.tmp")
    tmp.write_text(json.dumps(report, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path
