"""Step 6, "Exporting": mesh files per structure, the label map in the input's grid, report.json."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

from gpu_worker.pipeline.anonymize import scrub_nifti_header
from gpu_worker.pipeline.load import Scan
from gpu_worker.pipeline.meshing import StructureMesh
from gpu_worker.pipeline.models import cpu_cores
from gpu_worker.pipeline.segment import Segmentation
from gpu_worker.pipeline.writers import write_glb, write_obj, write_ply, write_stl
from gpu_worker.progress import report_step
from mrimesh.contract import Step

_STEP = Step.EXPORTING.value
SEGMENTATION_FILE = "segmentation.nii.gz"
REPORT_FILE = "report.json"

#: Display colour of each known structure in GLB files (linear RGB); others get grey.
COLORS: dict[str, tuple[float, float, float]] = {
    "brain": (0.93, 0.72, 0.70),
    "white_matter": (0.95, 0.95, 0.90),
    "ventricles": (0.35, 0.55, 0.90),
    "grey_matter": (0.70, 0.55, 0.55),
    "csf": (0.55, 0.75, 0.95),
}


def write_mesh(structure: StructureMesh, out_dir: Path, fmt: str) -> str:
    """Write one structure in one format; returns the file name."""
    name = structure.spec.name
    path = out_dir / f"{name}.{fmt}"
    if fmt == "stl":
        write_stl(structure.mesh, path)
    elif fmt == "obj":
        write_obj(structure.mesh, path)
    elif fmt == "ply":
        write_ply(structure.mesh, path)
    elif fmt == "glb":
        write_glb(structure.mesh, path, name, COLORS.get(name, (0.8, 0.8, 0.8)))
    else:
        raise ValueError(f"unknown mesh format {fmt!r}")
    return path.name


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


def export(
    out_dir: Path,
    scan: Scan,
    seg: Segmentation,
    structures: list[StructureMesh],
    formats: tuple[str, ...],
) -> dict[str, dict[str, str]]:
    """Write every structure in every format, and the segmentation; returns structure -> files."""
    report_step(_STEP, 0.0)
    out_dir.mkdir(parents=True, exist_ok=True)
    # Files are written in parallel threads: OBJ's text formatting holds the GIL, but the
    # binary formats spend their time in numpy loops and file writes that release it. Progress
    # is reported from the calling thread only, where the reporter lives and may cancel the job.
    jobs = [(s, fmt) for fmt in formats for s in structures]
    jobs.sort(key=lambda job: job[1] != "obj")  # the slowest first
    written: dict[tuple[str, str], str] = {}
    pool = ThreadPoolExecutor(max_workers=max(1, min(len(jobs), cpu_cores())))
    try:
        futures = {pool.submit(write_mesh, s, out_dir, fmt): (s.spec.name, fmt) for s, fmt in jobs}
        for done, future in enumerate(as_completed(futures), start=1):
            written[futures[future]] = future.result()
            report_step(_STEP, 0.8 * done / max(len(jobs), 1))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    files = {s.spec.name: {fmt: written[s.spec.name, fmt] for fmt in formats} for s in structures}
    write_segmentation(seg, scan, out_dir / SEGMENTATION_FILE)
    report_step(_STEP, 0.95)
    return files


def write_report(report: dict, out_dir: Path) -> Path:
    """Write ``report`` as report.json (via a temporary file, so readers never see half of it)."""
    path = out_dir / REPORT_FILE
    tmp = path.with_name(f".{REPORT_FILE}.tmp")
    tmp.write_text(json.dumps(report, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path
