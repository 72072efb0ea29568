"""Step 5, "Generating meshes", for printing: every chosen piece (structures, hemispheres cut at
the midline), solid or hollow, scaled to the print size and written in every chosen format,
plus one 3MF holding them all.

Two rounds in the meshing helpers (:mod:`.mesh_pool`): first each piece is meshed at life size
(side by side, largest first); then, once the print size is known from all of them together,
each piece's files are written (and the 3MF), side by side again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from gpu_worker.pipeline.errors import InputError
from gpu_worker.pipeline.masks import bounding_box, label_mask
from gpu_worker.pipeline.meshing.mesh_pool import helper_count, run_all
from gpu_worker.pipeline.meshing.midline import Plane, find_midline
from gpu_worker.pipeline.meshing.pieces import (
    DEFAULT_HEMISPHERE_GAP_MM,
    CavityPart,
    Cut,
    OuterPart,
    PieceJob,
    PieceMesh,
    PieceParams,
    Reused,
    join_parts,
    make_piece,
    mesh_cavity,
    mesh_outer,
    print_size,
    scaled,
)
from gpu_worker.pipeline.meshing.surface import hull_area_ratio
from gpu_worker.pipeline.meshing.threemf import ColouredMesh, write_3mf
from gpu_worker.pipeline.meshing.writers import COLORS, write_mesh
from gpu_worker.pipeline.options import PipelineOptions
from gpu_worker.pipeline.types import MeshQuality, StructureSpec
from gpu_worker.progress import report_fraction
from mrimesh.print_options import INVALID_OPTION, STRUCTURE_LABELS
from mrimesh.wall_fit import wall_too_thick

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
    #: how its mesh was made (:attr:`PieceMesh.meshed_as`) and the scale of its files
    meshed_as: dict[str, object] = field(default_factory=dict)
    reused: bool = False  #: True when its surface came from an earlier job's files
    cut_from_brain: bool = False  #: True when it was cut from an earlier job's brain surface


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
class _Printed:
    """A piece's files and measurements at print size (what a helper sends back)."""

    files: dict[str, str]
    size_mm: list[float]
    material_ml: float
    surface_area_mm2: float
    hull_area_ratio: float | None
    triangles: int
    vertices: int


def _print_piece(
    piece: PieceMesh, scale: float, formats: tuple[str, ...], out_dir: Path | None
) -> _Printed:
    """Scale a life-size piece to the print size, write its files and measure it."""
    mesh = scaled(piece.mesh, scale)
    files: dict[str, str] = {}
    if out_dir is not None:
        files = {f: write_mesh(mesh, out_dir, piece.name, f) for f in formats if f != "3mf"}
        if "stl" not in formats:  # the page's viewer reads every piece's STL (plan contract 6)
            page = out_dir / PAGE_DIR
            page.mkdir(parents=True, exist_ok=True)
            write_mesh(mesh, page, piece.name, "stl")
    area = mesh.area()
    return _Printed(
        files=files,
        size_mm=print_size(mesh),
        material_ml=mesh.signed_volume() / 1000.0,
        surface_area_mm2=area,
        hull_area_ratio=hull_area_ratio(mesh, area) if not piece.hollow else None,
        triangles=mesh.n_triangles,
        vertices=len(mesh.vertices),
    )


@dataclass(frozen=True)
class _MeshTask:
    """Mesh one piece; when the print size is known already, also write and measure it."""

    job: PieceJob
    scale: float | None
    formats: tuple[str, ...]
    out_dir: Path | None

    def run(self) -> tuple[PieceMesh | None, _Printed | None]:
        piece = make_piece(self.job)
        if piece is None or self.scale is None:
            return piece, None
        return piece, _print_piece(piece, self.scale, self.formats, self.out_dir)


@dataclass(frozen=True)
class _OuterTask:
    """Mesh a hollow piece's outer surface, while another helper meshes its cavity."""

    job: PieceJob

    def run(self) -> OuterPart:
        return mesh_outer(self.job)


@dataclass(frozen=True)
class _CavityTask:
    """Mesh a hollow piece's cavity, while another helper meshes its outer surface."""

    job: PieceJob

    def run(self) -> CavityPart:
        return mesh_cavity(self.job)


@dataclass(frozen=True)
class _PrintTask:
    """Write and measure one meshed piece at the print size."""

    piece: PieceMesh
    scale: float
    formats: tuple[str, ...]
    out_dir: Path | None

    def run(self) -> _Printed:
        return _print_piece(self.piece, self.scale, self.formats, self.out_dir)


@dataclass(frozen=True)
class _ThreeMFTask:
    """Write every piece, at the print size, into one 3MF."""

    pieces: tuple[PieceMesh, ...]
    scale: float
    out_dir: Path
    #: world direction each piece should lie on (a hemisphere's cut face), by name
    down: dict[str, tuple[float, float, float]] = field(default_factory=dict)

    def run(self) -> dict[str, str]:
        coloured = []
        for piece in self.pieces:
            name, mesh = piece.name, scaled(piece.mesh, self.scale)
            coloured.append(ColouredMesh(name, mesh, color_of(name), self.down.get(name)))
        return {"3mf": write_3mf(coloured, self.out_dir / THREEMF_FILE)}


def _run_task(task: _MeshTask | _OuterTask | _CavityTask | _PrintTask | _ThreeMFTask) -> object:
    """What a meshing helper runs: one task."""
    return task.run()


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


def _box_extent(box: tuple[slice, slice, slice], affine: np.ndarray) -> np.ndarray:
    """World bounding box (2, 3) of a voxel box (its voxels' outer corners)."""
    lo = np.array([b.start for b in box], dtype=np.float64) - 0.5
    hi = np.array([b.stop for b in box], dtype=np.float64) - 0.5
    corners = np.array(
        [[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])]
    )
    world = corners @ affine[:3, :3].T + affine[:3, 3]
    return np.stack([world.min(axis=0), world.max(axis=0)])


def _widened(box: tuple[slice, ...], shape: tuple[int, ...], margin: int = 1) -> tuple[slice, ...]:
    """``box`` ``margin`` voxels wider on each side, within ``shape``."""
    return tuple(
        slice(max(b.start - margin, 0), min(b.stop + margin, n))
        for b, n in zip(box, shape, strict=True)
    )


def _cut_from_earlier_brain(
    jobs: list[PieceJob],
    labels: np.ndarray,
    affine: np.ndarray,
    voxel_ml: float,
    structures: tuple[StructureSpec, ...],
    request: PrintRequest,
    label_names: dict[int, str],
    earlier: Callable[[PieceJob], Reused | None],
) -> list[PieceJob]:
    """``jobs`` with each hemisphere still to mesh given the whole brain's surface from the
    earlier job (when it meshed the brain the same way), to cut instead: a fraction of a second
    instead of meshing half a brain."""
    todo = [i for i, j in enumerate(jobs) if j.cut is not None and j.reuse is None]
    if not todo:
        return jobs
    spec = _spec_for(structures, set(label_names), "brain")
    box = bounding_box(label_mask(labels, spec.labels))
    if box is None:
        return jobs
    shift = np.eye(4)
    shift[:3, 3] = [s.start for s in box]
    brain = earlier(PieceJob("brain", spec, labels[box], affine @ shift, voxel_ml, request.params))
    if brain is None:
        return jobs
    return [replace(j, whole=brain.outer) if i in todo else j for i, j in enumerate(jobs)]


def _expected_work(job: PieceJob) -> tuple[int, int]:
    """Sort key, the longest task first: pieces to mesh (by their surface), then hemispheres
    cut from an earlier brain (about half a second), then reused pieces (a read)."""
    if job.reuse is None and job.whole is None:
        return 2, _surface_faces(job)
    return (1 if job.reuse is None else 0), 0


def _split_in_two(jobs: list[PieceJob], helpers: int) -> set[int]:
    """Indices of the hollow pieces to mesh anew whose outer surface and cavity are made side
    by side in two helpers, the first (largest) first, while helpers would otherwise sit idle."""
    split: set[int] = set()
    for index, job in enumerate(jobs):
        if len(jobs) + len(split) >= helpers:
            break
        if job.cavity_level_mm > 0 and job.reuse is None and job.whole is None:
            split.add(index)
    return split


def _surface_faces(job: PieceJob) -> int:
    """Voxel faces on the boundary of the piece's labels: how long meshing it will take (marching
    cubes makes about two triangles per face, and every later step goes over them)."""
    mask = label_mask(job.labels, job.spec.labels)
    return sum(int(np.count_nonzero(np.diff(mask, axis=axis))) for axis in range(3))


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
    earlier: Callable[[PieceJob], Reused | None] | None = None,
) -> PrintResult:
    """Mesh, scale and write every piece ``request`` asks for from the label map ``labels``
    (working grid, voxel -> world mm by ``affine``).

    ``earlier(job)`` may give a piece's surfaces from an earlier job that meshed it the same
    way (a re-make); those are rescaled and written instead of meshed again. When the print
    size is known up front (a scale, not a longest side) and no 3MF is asked for, each helper
    writes its piece's files as soon as it is meshed; otherwise the files follow once all
    pieces are measured, beside the 3MF."""
    voxel_ml = abs(float(np.linalg.det(affine[:3, :3]))) / 1000.0
    specs = {n: _spec_for(structures, set(label_names), n) for n in request.structures}
    hemispheres = [n for n in request.structures if n.endswith("_hemisphere")]
    if hemispheres and plane is None:
        plane = find_midline(labels, affine, label_mask(labels, specs[hemispheres[0]].labels))
    report_fraction(0.05)

    # The print scale: asked for, or the one that makes the longest side of all pieces together
    # the asked-for length. Walls are asked for at print size, meshed at life size, so the scale
    # is estimated from the voxels first and measured on the meshes after.
    boxes = {}  # each label set's tight voxel box, one pass over the label map per set
    for name in request.structures:
        values = specs[name].labels
        if values not in boxes:
            boxes[values] = bounding_box(label_mask(labels, values), margin=0)
    extents = [
        _box_extent(box, affine)
        for n in request.structures
        if (box := boxes[specs[n].labels]) is not None
    ]
    if not extents:
        raise InputError("None of the chosen structures was found in this scan.", code="no_brain")
    known_scale = None
    if request.longest_side_mm is not None:
        union = (
            np.stack([e[0] for e in extents]).min(axis=0),
            np.stack([e[1] for e in extents]).max(axis=0),
        )
        estimate = request.longest_side_mm / float((union[1] - union[0]).max())
    else:
        estimate = known_scale = (request.scale_percent or 100.0) / 100.0
    wall_life = request.hollow_mm / estimate

    jobs = []
    for name in request.structures:
        spec = specs[name]
        if boxes[spec.labels] is None:
            continue
        box = _widened(boxes[spec.labels], labels.shape)
        shift = np.eye(4)
        shift[:3, 3] = [s.start for s in box]
        cut = None
        if name in ("left_hemisphere", "right_hemisphere"):
            cut = Cut(plane, -1 if name == "left_hemisphere" else 1, request.gap_mm)
        job = PieceJob(
            name, spec, labels[box].copy(), affine @ shift, voxel_ml, request.params, cut, wall_life
        )
        jobs.append(replace(job, reuse=earlier(job)) if earlier is not None else job)
    if earlier is not None and plane is not None:
        jobs = _cut_from_earlier_brain(
            jobs, labels, affine, voxel_ml, structures, request, label_names, earlier
        )
    jobs.sort(key=_expected_work, reverse=True)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    # The 3MF waits for every piece, in one helper; the pieces' own files are then written in
    # the other helpers beside it instead of before it, so the meshing round ends sooner.
    write_later = out_dir is not None and "3mf" in request.formats and len(jobs) > 1
    split = _split_in_two(jobs, helper_count(processes))
    tasks: list[_MeshTask | _OuterTask | _CavityTask] = []
    for index, job in enumerate(jobs):
        if index in split:
            tasks += [_OuterTask(job), _CavityTask(job)]
        else:
            tasks.append(
                _MeshTask(job, None if write_later else known_scale, request.formats, out_dir)
            )
    share = _MESHING_SHARE if known_scale is None or write_later else 0.9
    done = 0

    def meshed_one(_index: int, _result: object) -> None:
        nonlocal done
        done += 1
        report_fraction(0.05 + (share - 0.05) * done / len(tasks))

    results = iter(run_all(_run_task, tasks, processes, meshed_one))
    outcomes = []
    for index, job in enumerate(jobs):
        if index in split:
            piece, printed = join_parts(job, next(results), next(results)), None
        else:
            piece, printed = next(results)
        if piece is not None:
            outcomes.append((piece, printed))
    if not outcomes:
        raise InputError("None of the chosen structures was found in this scan.", code="no_brain")
    meshed = [piece for piece, _ in outcomes]
    if request.hollow_mm > 0 and not any(m.hollow for m in meshed):
        allowed = max(float(m.meshed_as["wall_limit_mm"]) for m in meshed) * estimate
        raise invalid_option(wall_too_thick(request.hollow_mm, allowed))

    if known_scale is not None:
        scale = known_scale
    else:
        lo = np.min([m.mesh.vertices.min(axis=0) for m in meshed], axis=0)
        hi = np.max([m.mesh.vertices.max(axis=0) for m in meshed], axis=0)
        scale = request.longest_side_mm / float((hi - lo).max())
    later: list[_PrintTask | _ThreeMFTask] = [
        _PrintTask(m, scale, request.formats, out_dir) for m, p in outcomes if p is None
    ]
    if out_dir is not None and "3mf" in request.formats:
        order = {n: i for i, n in enumerate(request.structures)}
        down = {j.name: j.cut.down for j in jobs if j.cut is not None}
        in_order = tuple(sorted(meshed, key=lambda m: order[m.name]))
        later.insert(0, _ThreeMFTask(in_order, scale, out_dir, down))
    written = 0

    def wrote(_index: int, _result: object) -> None:
        nonlocal written
        written += 1
        report_fraction(share + (1 - share) * written / len(later))

    joint: dict[str, str] = {}
    printed_later = iter([])
    if later:
        results = run_all(_run_task, later, processes, wrote)
        if isinstance(later[0], _ThreeMFTask):
            joint = results.pop(0)
        printed_later = iter(results)
    printed = [p if p is not None else next(printed_later) for _, p in outcomes]

    pieces = [
        PieceResult(
            name=m.name,
            spec=specs[m.name],
            volume_ml=m.volume_ml,
            material_ml=p.material_ml,
            print_size_mm=p.size_mm,
            triangles=p.triangles,
            vertices=p.vertices,
            surface_area_mm2=p.surface_area_mm2,
            hull_area_ratio=p.hull_area_ratio,
            quality=m.quality,
            hollow=m.hollow,
            cavities=m.cavities,
            wall_mm=request.hollow_mm if m.hollow else 0.0,
            max_wall_mm=m.max_wall_mm * scale,
            files=p.files,
            seconds=m.seconds,
            meshed_as={**m.meshed_as, "scale": scale},
            reused=m.reused,
            cut_from_brain=m.cut_from_brain,
        )
        for m, p in zip(meshed, printed, strict=True)
    ]
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
        "reused": piece.reused,
        "cut_from_brain": piece.cut_from_brain,
        "meshed_as": piece.meshed_as,
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
