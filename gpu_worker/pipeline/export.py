"""Step 6, "Exporting": mesh files per structure, the label map in the input's grid, report.json."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

from gpu_worker.pipeline.anonymize import scrub_nifti_header
from gpu_worker.pipeline.load import Scan
from gpu_worker.pipeline.meshing import StructureMesh
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


def labels_in_input_space(seg: Segmentation, scan: Scan) -> np.ndarray:
    """The working-grid label map resampled (nearest neighbour) onto the input's voxel grid."""
    to_work = np.linalg.inv(seg.affine) @ scan.affine
    return ndimage.affine_transform(
        seg.labels,
        to_work[:3, :3],
        offset=to_work[:3, 3],
        output_shape=scan.data.shape,
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
    files: dict[str, dict[str, str]] = {}
    total = max(len(structures) * len(formats), 1)
    done = 0
    for structure in structures:
        files[structure.spec.name] = {}
        for fmt in formats:
            files[structure.spec.name][fmt] = write_mesh(structure, out_dir, fmt)
            done += 1
            report_step(_STEP, 0.8 * done / total)
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
