"""The whole pipeline: load -> prepare -> segment -> clean up -> mesh -> export (-> package)."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from gpu_worker.pipeline.export import (
    REPORT_FILE,
    SEGMENTATION_FILE,
    write_report,
    write_segmentation,
)
from gpu_worker.pipeline.load import load_scan
from gpu_worker.pipeline.meshing.printing import (
    PrintRequest,
    PrintResult,
    build_pieces,
    piece_report,
    print_request,
)
from gpu_worker.pipeline.models import bundle_dir, get_segmenter, resolve_device
from gpu_worker.pipeline.options import PipelineOptions
from gpu_worker.pipeline.postprocess import postprocess
from gpu_worker.pipeline.preprocess import prepare
from gpu_worker.pipeline.result_files import (
    BRAIN_FILE,
    LABELS_FILE,
    files_dir,
    publish,
    write_brain,
    write_labels,
)
from gpu_worker.pipeline.segment import segment
from gpu_worker.pipeline.types import Scan, Segmentation, StructureSpec
from gpu_worker.progress import clocked, step
from mrimesh.config import Settings
from mrimesh.contract import Step

logger = logging.getLogger(__name__)

#: Version of report.json's layout; bumped when a field changes meaning (2: ``steps`` keyed by
#: step id, not label).
REPORT_SCHEMA = 2

#: What report.json says about the coordinates of the mesh files.
COORDINATES_NOTE = (
    "STL/OBJ/PLY/3MF: world (scanner) RAS+ in mm at the print size (print.scale_percent of life "
    "size, scaled about the scanner's origin); GLB: glTF y-up in metres (same data, node transform)"
)


def _device_report(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"


def build_report(
    scan: Scan,
    seg: Segmentation,
    printed: PrintResult,
    request: PrintRequest,
    model: dict[str, object],
    device: torch.device,
    options: PipelineOptions,
    step_seconds: dict[str, float],
) -> dict[str, object]:
    """The content of report.json (and of ``run_pipeline``'s return value)."""
    label_counts = np.bincount(seg.labels.ravel(), minlength=max(seg.names) + 1)
    return {
        "schema": REPORT_SCHEMA,
        "input": dict(scan.info),
        "input_voxels": int(scan.info["voxels"]),
        "notes": [*scan.info.get("notes", []), *seg.notes],
        "model": model,
        "device": _device_report(device),
        "work_grid": {
            "shape": list(seg.labels.shape),
            "voxel_size_mm": np.linalg.norm(seg.affine[:3, :3], axis=0).round(4).tolist(),
        },
        "coordinates": COORDINATES_NOTE,
        "labels": {str(k): v for k, v in sorted(seg.names.items())},
        "label_volumes_ml": {
            seg.names.get(k, str(k)): round(float(label_counts[k]) * seg.voxel_ml, 2)
            for k in sorted(seg.names)
            if k != 0
        },
        "structures": [piece_report(p) for p in printed.pieces],
        "print": printed.summary(request),
        "print_options": {**options.print_summary(), "structures": list(request.structures)},
        "segmentation": SEGMENTATION_FILE,
        "files": {"labels": f"files/{LABELS_FILE}", "brain": f"files/{BRAIN_FILE}"},
        "options": {
            "formats": list(options.formats),
            "target_triangles": options.target_triangles,
            "smoothing_iterations": options.smoothing_iterations,
            "decimation": options.decimation,
            "iso_surface": options.iso_surface,
        },
        "inference_seconds": round(seg.inference_seconds, 3),
        "inference_parts": dict(seg.inference_parts),
        "steps": dict(step_seconds),
        "total_seconds": round(sum(step_seconds.values()), 3),
    }


def structure_names(
    options: PipelineOptions, structures: tuple[StructureSpec, ...]
) -> tuple[str, ...]:
    """The structures to make: those asked for, else every one the model defines; refuses one
    the model cannot make (the hemispheres come from its ``brain``)."""
    known = [s.name for s in structures]
    makeable = known + (["left_hemisphere", "right_hemisphere"] if "brain" in known else [])
    names = tuple(options.structures) if options.structures is not None else tuple(known)
    unknown = sorted(set(names) - set(makeable))
    if unknown:
        raise ValueError(f"unknown structures {unknown}; this model makes {makeable}")
    return names


def write_volumes(seg: Segmentation, scan: Scan, image: np.ndarray, out_dir: Path) -> None:
    """The segmentation in the input's grid, and the page's label map and brain-only scan."""
    out_dir.mkdir(parents=True, exist_ok=True)
    write_segmentation(seg, scan, out_dir / SEGMENTATION_FILE)
    folder = files_dir(out_dir)
    write_labels(seg.labels, seg.affine, folder / LABELS_FILE)
    write_brain(image, seg.labels > 0, seg.affine, folder / BRAIN_FILE)


def run_pipeline(
    input_path: Path,
    out_dir: Path,
    options: PipelineOptions | None = None,
    settings: Settings | None = None,
) -> dict:
    """Turn the scan at ``input_path`` into meshes, a segmentation and report.json in ``out_dir``.

    Raises :class:`~gpu_worker.pipeline.errors.InputError` when the input is unusable (do not
    retry), and lets :class:`~gpu_worker.progress.Cancelled` through untouched.
    """
    options = options or PipelineOptions()
    settings = settings or Settings.from_env()
    out_dir = Path(out_dir)
    device = resolve_device(options.device or settings.device)

    with clocked() as clock:
        with step(Step.LOADING):
            scan = load_scan(Path(input_path), workdir=out_dir)
        with step(Step.PREPARING):
            segmenter = get_segmenter(str(bundle_dir(settings.model_bundle)), str(device))
            names = structure_names(options, segmenter.bundle.structures)
            prepared = prepare(scan, device, options.work_spacing_mm)
        with step(Step.SEGMENTING):
            seg = segment(prepared, segmenter)
            # The scan as the segmenter saw it, for the page's brain-only copy.
            image = prepared.image.detach().to("cpu").numpy().astype(np.float32, copy=False)
            del prepared
        with step(Step.CLEANING_UP):
            seg = postprocess(seg)
        # The volumes are written by a thread of this process while the helpers mesh: this
        # process would otherwise only wait, and the 3MF at the end of meshing leaves a core
        # idle. Leaving the block waits for that thread, also when meshing fails or is cancelled.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="export") as background:
            with step(Step.MESHING):
                volumes = background.submit(write_volumes, seg, scan, image, out_dir)
                del image
                request = print_request(options, names)
                printed = build_pieces(
                    seg.labels,
                    seg.affine,
                    seg.names,
                    seg.structures,
                    request,
                    out_dir,
                    processes=settings.mesh_processes,
                )
            with step(Step.EXPORTING):
                volumes.result()
        seconds = dict(clock.seconds)
    report = build_report(
        scan, seg, printed, request, segmenter.describe(), device, options, seconds
    )
    write_report(report, out_dir)
    publish(out_dir, report)
    logger.info("pipeline done in %.1f s: %s", report["total_seconds"], report["steps"])
    return report


__all__ = ["REPORT_FILE", "run_pipeline"]
