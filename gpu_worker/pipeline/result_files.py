"""The files a results page needs, each its own object (plan contract 6), in ``<out_dir>/files/``:

* ``brain.nii.gz`` — the scan inside the brain mask only (skull and face removed; the face is
  never kept), in the working grid, 8-bit;
* ``labels.nii.gz`` — the label map in the same grid (what a re-make reuses);
* ``<piece>.glb`` and ``<piece>.stl`` — each piece's mesh (links to the files beside the zip);
* ``report.json``.

The result zip holds the files directly in ``out_dir`` (meshes, the input-grid segmentation,
report.json); ``files/`` is kept beside it for the page and the re-make.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np

#: Folder of the page's files inside a job's output folder (objects ``files/<name>``).
FILES_DIR = "files"
LABELS_FILE = "labels.nii.gz"
BRAIN_FILE = "brain.nii.gz"
REPORT_FILE = "report.json"
#: Mesh formats published one by one for the page (the zip has every chosen format).
PAGE_FORMATS = ("glb", "stl")


def files_dir(out_dir: Path) -> Path:
    """``<out_dir>/files``, created."""
    path = Path(out_dir) / FILES_DIR
    path.mkdir(parents=True, exist_ok=True)
    return path


def _nifti(data: np.ndarray, affine: np.ndarray) -> nib.Nifti1Image:
    image = nib.Nifti1Image(data, affine)
    image.set_sform(affine, code=1)
    image.set_qform(affine, code=1)
    return image


def write_labels(labels: np.ndarray, affine: np.ndarray, path: Path) -> None:
    """The working-grid label map as an 8-bit label NIfTI (no text from the input's header)."""
    image = _nifti(np.ascontiguousarray(labels, dtype=np.uint8), affine)
    image.header.set_intent("label")
    image.header["cal_min"], image.header["cal_max"] = 0, int(labels.max(initial=0))
    image.to_filename(str(path))


def write_brain(image: np.ndarray, brain: np.ndarray, affine: np.ndarray, path: Path) -> None:
    """``image`` (0..1) inside the boolean ``brain`` mask, as 8-bit NIfTI; outside is 0, so no
    skull, face or ear is kept."""
    scaled = np.clip(np.nan_to_num(image, nan=0.0), 0.0, 1.0) * 255.0
    data = np.where(brain, np.rint(scaled), 0).astype(np.uint8)
    out = _nifti(data, affine)
    out.header["cal_min"], out.header["cal_max"] = 0, 255
    out.to_filename(str(path))


def read_labels(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A label map written by :func:`write_labels`: the array and its affine."""
    image = nib.load(str(path))
    return np.asarray(image.dataobj, dtype=np.uint8), np.asarray(image.affine, dtype=np.float64)


def _link_or_copy(source: Path, target: Path) -> None:
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def publish(out_dir: Path, report: dict) -> list[str]:
    """Put each piece's page formats and report.json into ``<out_dir>/files``; returns the
    names there."""
    folder = files_dir(out_dir)
    for structure in report.get("structures", []):
        for fmt in PAGE_FORMATS:
            name = (structure.get("files") or {}).get(fmt)
            if name and (Path(out_dir) / name).is_file():
                _link_or_copy(Path(out_dir) / name, folder / name)
    tmp = folder / f".{REPORT_FILE}.tmp"
    tmp.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    tmp.replace(folder / REPORT_FILE)
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
