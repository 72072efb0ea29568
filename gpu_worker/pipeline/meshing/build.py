"""Step 5, "Generating meshes": one closed, outward-facing surface per structure, in world mm,
written in every asked-for format."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import cc3d
import numpy as np

from gpu_worker.pipeline.masks import bounding_box, fill_holes, label_mask, largest_component
from gpu_worker.pipeline.meshing.mesh import (
    clean,
    decimate,
    marching_cubes_mask,
    taubin_smooth,
    to_world,
)
from gpu_worker.pipeline.meshing.mesh_pool import run_all
from gpu_worker.pipeline.meshing.repair import repair_candidates
from gpu_worker.pipeline.meshing.surface import Mesh, check_mesh, hull_area_ratio
from gpu_worker.pipeline.meshing.writers import write_mesh
from gpu_worker.pipeline.types import (
    MeshParams,
    MeshQuality,
    Segmentation,
    StructureResult,
    StructureSpec,
)
from gpu_worker.progress import report_fraction

logger = logging.getLogger(__name__)


@dataclass
class StructureMesh:
    """A structure's surface as meshed, before its files are written."""

    spec: StructureSpec
    mesh: Mesh  #: world mm, outward normals
    quality: MeshQuality
    volume_ml: float  #: from the label map's voxels


def structure_mask(
    labels: np.ndarray, spec: StructureSpec, voxel_ml: float, min_ml: float
) -> np.ndarray:
    """Boolean mask of ``spec``'s labels, reduced and filled as the spec asks."""
    mask = label_mask(labels, spec.labels)
    if not mask.any():
        return mask
    if spec.keep_largest:
        mask = largest_component(mask)
    else:
        mask = cc3d.dust(mask, threshold=max(1, int(min_ml / voxel_ml)), connectivity=6)
    if spec.fill_holes and mask.any():
        mask = fill_holes(mask)
    return mask


def surface(
    mask: np.ndarray, affine: np.ndarray, params: MeshParams, keep_largest: bool
) -> tuple[Mesh, MeshQuality]:
    """Marching cubes, Taubin smoothing, decimation and cleanup of one mask, mapped to world mm.

    Decimation can leave a pinched handle or a folded face pair; those are repaired locally, and
    if that fails the mesh is decimated again with open3d (slower, but never pinches). The mesh
    is checked once, in world mm, unless a repair has to widen its region.
    """
    smoothed = taubin_smooth(
        marching_cubes_mask(mask, params.sigma_voxels, params.iso_surface),
        params.smoothing_iterations,
    )
    decimated = clean(
        decimate(smoothed, params.target_triangles, params.decimation), keep_largest=keep_largest
    )
    for candidate in repair_candidates(decimated):
        if candidate is not decimated:
            candidate = clean(candidate, keep_largest=keep_largest)
        world = to_world(candidate, affine)
        quality = check_mesh(world)
        if quality.ok or candidate is decimated:
            break
    else:  # no repair worked: go on from the decimated mesh as it was
        world = to_world(decimated, affine)
        quality = check_mesh(world)
    if not quality.ok and params.decimation != "open3d":
        logger.warning("decimated mesh is not closed and manifold after repair; using open3d")
        mesh = clean(
            decimate(smoothed, params.target_triangles, "open3d"), keep_largest=keep_largest
        )
        world = to_world(mesh, affine)
        quality = check_mesh(world)
    return world, quality


@dataclass(frozen=True)
class StructureJob:
    """One structure to mesh and write: everything a helper process needs, and picklable."""

    spec: StructureSpec
    labels: np.ndarray  #: the label map cropped to the box around the structure's labels
    affine: np.ndarray  #: voxel of ``labels`` -> world mm
    voxel_ml: float
    params: MeshParams
    out_dir: Path | None = None  #: where the mesh files go (None: none are written)
    formats: tuple[str, ...] = ()


def structure_job(
    seg: Segmentation,
    spec: StructureSpec,
    params: MeshParams,
    out_dir: Path | None = None,
    formats: tuple[str, ...] = (),
) -> StructureJob | None:
    """The job for ``spec``, on the box around its labels (with a one-voxel margin, so filling
    holes and dropping pieces give the same mask as on the whole volume); None when ``seg`` has
    none of its labels."""
    box = bounding_box(label_mask(seg.labels, spec.labels))
    if box is None:
        return None
    shift = np.eye(4)
    shift[:3, 3] = [s.start for s in box]
    return StructureJob(
        spec, seg.labels[box].copy(), seg.affine @ shift, seg.voxel_ml, params, out_dir, formats
    )


def mesh_job(job: StructureJob) -> StructureMesh | None:
    """The mesh of one structure, or None when nothing of it is left to mesh."""
    mask = structure_mask(job.labels, job.spec, job.voxel_ml, job.params.min_component_ml)
    if not mask.any():
        return None
    mesh, quality = surface(mask, job.affine, job.params, keep_largest=job.spec.keep_largest)
    if mesh.n_triangles == 0:
        return None
    return StructureMesh(job.spec, mesh, quality, float(np.count_nonzero(mask)) * job.voxel_ml)


def make_structure(job: StructureJob) -> StructureResult | None:
    """Mesh one structure, write its files and measure it (what a helper process runs)."""
    start = time.perf_counter()
    built = mesh_job(job)
    if built is None:
        return None
    name = job.spec.name
    files = {}
    if job.out_dir is not None:
        files = {fmt: write_mesh(built.mesh, job.out_dir, name, fmt) for fmt in job.formats}
    area = built.mesh.area()
    return StructureResult(
        spec=job.spec,
        volume_ml=built.volume_ml,
        triangles=built.mesh.n_triangles,
        vertices=len(built.mesh.vertices),
        surface_area_mm2=area,
        hull_area_ratio=hull_area_ratio(built.mesh, area),
        quality=built.quality,
        files=files,
        seconds=time.perf_counter() - start,
    )


def build_meshes(
    seg: Segmentation,
    params: MeshParams | None = None,
    names: tuple[str, ...] | None = None,
    out_dir: Path | None = None,
    formats: tuple[str, ...] = (),
    processes: int = 0,
) -> list[StructureResult]:
    """Mesh every structure of ``seg`` (or only those in ``names``) and write each one's
    ``formats`` into ``out_dir``; structures with nothing to mesh are skipped.

    Structures are meshed side by side in helper processes (:mod:`.mesh_pool`; ``processes`` is
    the ``mesh_processes`` setting), largest first. Progress is reported here, in the calling
    thread, where the reporter lives and may cancel the job.
    """
    params = params or MeshParams()
    specs = [s for s in seg.structures if names is None or s.name in names]
    jobs = [job for s in specs if (job := structure_job(seg, s, params, out_dir, formats))]
    jobs.sort(key=lambda job: job.labels.size, reverse=True)  # the longest first
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    done = 0

    def progress(_index: int, _result: StructureResult | None) -> None:
        nonlocal done
        done += 1
        report_fraction(done / len(jobs))

    results = run_all(make_structure, jobs, processes, progress)
    order = {spec.name: i for i, spec in enumerate(specs)}
    return sorted((r for r in results if r is not None), key=lambda r: order[r.spec.name])
