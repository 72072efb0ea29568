"""Step 5, "Generating meshes", for printing: every chosen piece (structures, hemispheres cut at
the midline), solid or hollow, scaled to the print size and written in every chosen format,
plus one 3MF holding them all.

Two rounds in the meshing helpers (:mod:`.mesh_pool`): first each piece is meshed at life size
(side by side, largest first); then, once the print size is known from all of them together,
each piece's files are written (and the 3MF), side by side again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gpu_worker.pipeline.errors import InputError
from gpu_worker.pipeline.masks import bounding_box, label_mask
from gpu_worker.pipeline.meshing.mesh_pool import run_all
from gpu_worker.pipeline.meshing.midline import Plane, find_midline
from gpu_worker.pipeline.meshing.pieces import (
    DEFAULT_HEMISPHERE_GAP_MM,
    Cut,
    PieceJob,
    PieceMesh,
    PieceParams,
    make_piece,
    print_size,
    scaled,
)
from gpu_worker.pipeline.meshing.surface import Mesh, hull_area_ratio
from gpu_worker.pipeline.meshing.threemf import ColouredMesh, write_3mf
from gpu_worker.pipeline.meshing.writers import COLORS, write_mesh
from gpu_worker.pipeline.options import PipelineOptions
from gpu_worker.pipeline.types import MeshQuality, StructureSpec
from gpu_worker.progress import report_fraction
from mrimesh.print_options import INVALID_OPTION, STRUCTURE_LABELS

#: Folder of the page's own files in an output folder (``result_files.FILES_DIR``).
PAGE_DIR = "files"
#: Name of the 3MF file holding every piece.
THREEMF_FILE = "pieces.3mf"
#: Share of the meshing step spent meshing (the rest writes files).
_MESHING_SHARE = 0.75


def color_of(name: str) -> tuple[float, float, float]:
    """A piece's display colour in GLB and 3MF files."""
    return COLORS.get(name, (0.8, 0.8, 0.8))


@dataclass(frozen=True)
class PrintRequest:
    """What to make, in the pipeline's terms (options already validated)."""

    structures: tuple[str, ...]
    formats: tuple[str, ...]
    hollow_mm: float = 0.0
    scale_percent: float | None = None
    longest_side_mm: float | None = None
    params: PieceParams = field(default_factory=lambda: PieceParams(200_000, 10))
    gap_mm: float = DEFAULT_HEMISPHERE_GAP_MM


@dataclass(frozen=True)
class PieceResult:
    """A printed piece as the report describes it; the mesh itself is in its files."""

    name: str
    spec: StructureSpec
    volume_ml: float  #: of its voxels at life size (solid)
    material_ml: float  #: enclosed by the mesh at print size (the shell's, when hollow)
    print_size_mm: list[float]  #: bounding box edges at print size, x y z
    triangles: int
    vertices: int
    surface_area_mm2: float  #: at print size
    hull_area_ratio: float | None
    quality: MeshQuality
    hollow: bool
    cavities: int
    wall_mm: float  #: asked-for wall at print size (0: solid)
    max_wall_mm: float  #: thickest wall the piece could have at print size
    files: dict[str, str]
    seconds: float


@dataclass(frozen=True)
class PrintResult:
    """All pieces, and what was decided for all of them together."""

    pieces: list[PieceResult]
    scale: float  #: print size / life size
    plane: Plane | None
    files: dict[str, str]  #: format -> file holding every piece (3MF)

    def summary(self, request: PrintRequest) -> dict[str, object]:
        """report.json's ``print`` section."""
        union = _union_size([p.print_size_mm for p in self.pieces])
        return {
            "scale_percent": round(self.scale * 100.0, 3),
            "longest_side_mm": round(max(union), 2) if union else None,
            "size_mm": [round(v, 2) for v in union],
            "hollow_mm": request.hollow_mm,
            "midline_plane": self.plane.to_dict() if self.plane else None,
            "hemisphere_gap_mm": round(request.gap_mm * self.scale, 3) if self.plane else None,
            "files": dict(self.files),
        }


@dataclass(frozen=True)
class _WriteJob:
    names: tuple[str, ...]
    meshes: tuple[Mesh, ...]
    formats: tuple[str, ...]
    out_dir: Path
    #: world direction each piece should lie on (a hemisphere's cut face), by name
    down: dict[str, tuple[float, float, float]] = field(default_factory=dict)


def _write(job: _WriteJob) -> dict[str, str]:
    """Write one piece's mesh files, or (several pieces) the 3MF; in a helper process."""
    if len(job.formats) == 1 and job.formats[0] == "3mf":
        pieces = [
            ColouredMesh(n, m, color_of(n), job.down.get(n))
            for n, m in zip(job.names, job.meshes, strict=True)
        ]
        return {"3mf": write_3mf(pieces, job.out_dir / THREEMF_FILE)}
    name, mesh = job.names[0], job.meshes[0]
    written = {fmt: write_mesh(mesh, job.out_dir, name, fmt) for fmt in job.formats if fmt != "3mf"}
    if "stl" not in job.formats:  # the page's viewer reads every piece's STL (plan contract 6)
        page = job.out_dir / PAGE_DIR
        page.mkdir(parents=True, exist_ok=True)
        write_mesh(mesh, page, name, "stl")
    return written


def _union_size(sizes: list[list[float]]) -> list[float]:
    return [max(s[i] for s in sizes) for i in range(3)] if sizes else []


def _spec_for(
    seg_structures: tuple[StructureSpec, ...], names: set[int], name: str
) -> StructureSpec:
    specs = {s.name: s for s in seg_structures}
    if name in specs:
        return specs[name]
    if name in ("left_hemisphere", "right_hemisphere"):
        brain = specs.get("brain") or StructureSpec("brain", tuple(sorted(names - {0})))
        return StructureSpec(name, brain.labels, keep_largest=True, fill_holes=True)
    raise ValueError(f"this model cannot make {name!r}; it makes {sorted(specs)}")


def _mask_extent(
    labels: np.ndarray, affine: np.ndarray, values: tuple[int, ...]
) -> np.ndarray | None:
    """World bounding box (2, 3) of a label set's voxels (their outer corners)."""
    box = bounding_box(label_mask(labels, values), margin=0)
    if box is None:
        return None
    lo = np.array([b.start for b in box], dtype=np.float64) - 0.5
    hi = np.array([b.stop for b in box], dtype=np.float64) - 0.5
    corners = np.array(
        [[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])]
    )
    world = corners @ affine[:3, :3].T + affine[:3, 3]
    return np.stack([world.min(axis=0), world.max(axis=0)])


def invalid_option(message: str) -> InputError:
    """A job-time refusal of the options (the API's ``invalid_option``)."""
    return InputError(message, code=INVALID_OPTION)


def build_pieces(
    labels: np.ndarray,
    affine: np.ndarray,
    label_names: dict[int, str],
    structures: tuple[StructureSpec, ...],
    request: PrintRequest,
    out_dir: Path | None,
    processes: int = 0,
    plane: Plane | None = None,
) -> PrintResult:
    """Mesh, scale and write every piece ``request`` asks for from the label map ``labels``
    (working grid, voxel -> world mm by ``affine``)."""
    voxel_ml = abs(float(np.linalg.det(affine[:3, :3]))) / 1000.0
    specs = {n: _spec_for(structures, set(label_names), n) for n in request.structures}
    hemispheres = [n for n in request.structures if n.endswith("_hemisphere")]
    if hemispheres and plane is None:
        plane = find_midline(labels, affine, label_mask(labels, specs[hemispheres[0]].labels))
    report_fraction(0.05)

    # The print scale: asked for, or the one that makes the longest side of all pieces together
    # the asked-for length. Walls are asked for at print size, meshed at life size, so the scale
    # is estimated from the voxels first and measured on the meshes after.
    extents = [
        e
        for n in request.structures
        if (e := _mask_extent(labels, affine, specs[n].labels)) is not None
    ]
    if not extents:
        raise InputError("None of the chosen structures was found in this scan.", code="no_brain")
    if request.longest_side_mm is not None:
        union = (
            np.stack([e[0] for e in extents]).min(axis=0),
            np.stack([e[1] for e in extents]).max(axis=0),
        )
        estimate = request.longest_side_mm / float((union[1] - union[0]).max())
    else:
        estimate = (request.scale_percent or 100.0) / 100.0
    wall_life = request.hollow_mm / estimate

    jobs = []
    for name in request.structures:
        spec = specs[name]
        box = bounding_box(label_mask(labels, spec.labels))
        if box is None:
            continue
        shift = np.eye(4)
        shift[:3, 3] = [s.start for s in box]
        cut = None
        if name in ("left_hemisphere", "right_hemisphere"):
            cut = Cut(plane, -1 if name == "left_hemisphere" else 1, request.gap_mm)
        jobs.append(
            PieceJob(
                name,
                spec,
                labels[box].copy(),
                affine @ shift,
                voxel_ml,
                request.params,
                cut,
                wall_life,
            )
        )
    jobs.sort(key=lambda job: job.labels.size, reverse=True)
    done = 0

    def progress(_index: int, _result: object) -> None:
        nonlocal done
        done += 1
        report_fraction(0.05 + (_MESHING_SHARE - 0.05) * done / len(jobs))

    meshed = [m for m in run_all(make_piece, jobs, processes, progress) if m is not None]
    if not meshed:
        raise InputError("None of the chosen structures was found in this scan.", code="no_brain")
    if request.hollow_mm > 0 and not any(m.hollow for m in meshed):
        thickest = max(m.max_depth_mm for m in meshed) * estimate
        allowed = max(thickest - request.params.wall_margin_mm * estimate, 0.0)
        raise invalid_option(
            f"hollow_mm {request.hollow_mm:g} is thicker than the chosen pieces allow: at this "
            f"size their walls can be at most {allowed:.1f} mm. Choose a thinner wall, a larger "
            "print or solid pieces (hollow_mm 0)."
        )

    sizes = [print_size(m.mesh) for m in meshed]
    if request.longest_side_mm is not None:
        lo = np.min([m.mesh.vertices.min(axis=0) for m in meshed], axis=0)
        hi = np.max([m.mesh.vertices.max(axis=0) for m in meshed], axis=0)
        scale = request.longest_side_mm / float((hi - lo).max())
    else:
        scale = (request.scale_percent or 100.0) / 100.0
    printed = [scaled(m.mesh, scale) for m in meshed]
    sizes = [print_size(m) for m in printed]

    files: dict[str, dict[str, str]] = {m.name: {} for m in meshed}
    joint: dict[str, str] = {}
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        mesh_formats = tuple(f for f in request.formats if f != "3mf")
        writes = [
            _WriteJob((m.name,), (p,), mesh_formats, out_dir)
            for m, p in zip(meshed, printed, strict=True)
        ]
        if "3mf" in request.formats:
            order = [n for n in request.structures if n in files]
            by_name = {m.name: p for m, p in zip(meshed, printed, strict=True)}
            writes.insert(
                0,
                _WriteJob(
                    tuple(order),
                    tuple(by_name[n] for n in order),
                    ("3mf",),
                    out_dir,
                    {j.name: j.cut.down for j in jobs if j.cut is not None},
                ),
            )
        written = 0

        def wrote(_index: int, _result: object) -> None:
            nonlocal written
            written += 1
            report_fraction(_MESHING_SHARE + (1 - _MESHING_SHARE) * written / len(writes))

        for job, result in zip(writes, run_all(_write, writes, processes, wrote), strict=True):
            if job.formats == ("3mf",):
                joint.update(result)
            else:
                files[job.names[0]].update(result)

    pieces = []
    for m, mesh, size in zip(meshed, printed, sizes, strict=True):
        area = mesh.area()
        pieces.append(
            PieceResult(
                name=m.name,
                spec=specs[m.name],
                volume_ml=m.volume_ml,
                material_ml=mesh.signed_volume() / 1000.0,
                print_size_mm=size,
                triangles=mesh.n_triangles,
                vertices=len(mesh.vertices),
                surface_area_mm2=area,
                hull_area_ratio=hull_area_ratio(mesh, area) if not m.hollow else None,
                quality=m.quality,
                hollow=m.hollow,
                cavities=m.cavities,
                wall_mm=request.hollow_mm if m.hollow else 0.0,
                max_wall_mm=max(m.max_depth_mm - request.params.wall_margin_mm, 0.0) * scale,
                files=files[m.name],
                seconds=m.seconds,
            )
        )
    order = {n: i for i, n in enumerate(request.structures)}
    pieces.sort(key=lambda p: order[p.name])
    return PrintResult(pieces=pieces, scale=scale, plane=plane, files=joint)


def piece_report(piece: PieceResult) -> dict[str, object]:
    """One entry of report.json's ``structures``."""
    labels = list(piece.spec.labels)
    q = piece.quality
    return {
        "name": piece.name,
        "display_name": STRUCTURE_LABELS.get(piece.name, piece.name.replace("_", " ").capitalize()),
        "label": labels[0] if len(labels) == 1 else None,
        "labels": labels,
        "volume_ml": round(piece.volume_ml, 2),
        "material_ml": round(piece.material_ml, 2),
        "print_size_mm": [round(v, 2) for v in piece.print_size_mm],
        "hollow": piece.hollow,
        "wall_mm": piece.wall_mm,
        "cavities": piece.cavities,
        "max_wall_mm": round(piece.max_wall_mm, 2),
        "triangles": piece.triangles,
        "vertices": piece.vertices,
        "surface_area_cm2": round(piece.surface_area_mm2 / 100.0, 1),
        "hull_area_ratio": piece.hull_area_ratio,
        "watertight": q.watertight,
        "manifold": q.edge_manifold and q.vertex_manifold,
        "outward_normals": q.oriented and q.outward,
        "components": q.components,
        "files": dict(piece.files),
        "seconds": round(piece.seconds, 3),
    }


__all__ = [
    "THREEMF_FILE",
    "PieceMesh",
    "PrintRequest",
    "PrintResult",
    "build_pieces",
    "piece_report",
]


def print_request(options: PipelineOptions, names: tuple[str, ...]) -> PrintRequest:
    """The meshing step's request for ``options`` (``names``: the structures to make)."""
    return PrintRequest(
        structures=names,
        formats=options.formats,
        hollow_mm=options.hollow_mm,
        scale_percent=options.scale_percent,
        longest_side_mm=options.longest_side_mm,
        params=PieceParams(
            target_triangles=options.target_triangles,
            smoothing_iterations=options.smoothing_iterations,
            decimation=options.decimation,
            iso_surface=options.iso_surface,
        ),
    )
