"""The whole pipeline: load -> prepare -> segment -> clean up -> mesh -> export (-> package)."""

from __future__ import annotations

import logging
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
from gpu_worker.pipeline.meshing.build import build_meshes
from gpu_worker.pipeline.models import bundle_dir, get_segmenter, resolve_device
from gpu_worker.pipeline.options import PipelineOptions
from gpu_worker.pipeline.postprocess import postprocess
from gpu_worker.pipeline.preprocess import prepare
from gpu_worker.pipeline.segment import segment
from gpu_worker.pipeline.types import MeshParams, Scan, Segmentation, StructureResult
from gpu_worker.progress import clocked, step
from mrimesh.config import Settings
from mrimesh.contract import Step

logger = logging.getLogger(__name__)

#: Version of report.json's layout; bumped when a field changes meaning (2: ``steps`` keyed by
#: step id, not label).
REPORT_SCHEMA = 2


def _structure_report(structure: StructureResult) -> dict[str, object]:
    labels = list(structure.spec.labels)
    q = structure.quality
    return {
        "name": structure.spec.name,
        "label": labels[0] if len(labels) == 1 else None,
        "labels": labels,
        "volume_ml": round(structure.volume_ml, 2),
        "triangles": structure.triangles,
        "vertices": structure.vertices,
        "surface_area_cm2": round(structure.surface_area_mm2 / 100.0, 1),
        "hull_area_ratio": structure.hull_area_ratio,
        "watertight": q.watertight,
        "manifold": q.edge_manifold and q.vertex_manifold,
        "outward_normals": q.oriented and q.outward,
        "components": q.components,
        "files": dict(structure.files),
    }


def _device_report(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"


def build_report(
    scan: Scan,
    seg: Segmentation,
    structures: list[StructureResult],
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
        "coordinates": "STL/OBJ/PLY: world (scanner) RAS+ in mm, as the input's affine; "
        "GLB: glTF y-up in metres (same data, node transform)",
        "labels": {str(k): v for k, v in sorted(seg.names.items())},
        "label_volumes_ml": {
            seg.names.get(k, str(k)): round(float(label_counts[k]) * seg.voxel_ml, 2)
            for k in sorted(seg.names)
            if k != 0
        },
        "structures": [_structure_report(s) for s in structures],
        "segmentation": SEGMENTATION_FILE,
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
            known = [s.name for s in segmenter.bundle.structures]
            unknown = sorted(set(options.structures or ()) - set(known))
            if unknown:
                raise ValueError(f"unknown structures {unknown}; this model has {known}")
            prepared = prepare(scan, device, options.work_spacing_mm)
        with step(Step.SEGMENTING):
            seg = segment(prepared, segmenter)
            del prepared
        with step(Step.CLEANING_UP):
            seg = postprocess(seg)
        with step(Step.MESHING):
            params = MeshParams(
                target_triangles=options.target_triangles,
                smoothing_iterations=options.smoothing_iterations,
                decimation=options.decimation,
                iso_surface=options.iso_surface,
            )
            structures = build_meshes(
                seg,
                params,
                options.structures,
                out_dir=out_dir,
                formats=options.formats,
                processes=settings.mesh_processes,
            )
        with step(Step.EXPORTING):
            write_segmentation(seg, scan, out_dir / SEGMENTATION_FILE)
        seconds = dict(clock.seconds)
    report = build_report(scan, seg, structures, segmenter.describe(), device, options, seconds)
    write_report(report, out_dir)
    logger.info("pipeline done in %.1f s: %s", report["total_seconds"], report["steps"])
    return report


__all__ = ["REPORT_FILE", "run_pipeline"]
