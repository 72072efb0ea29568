"""Printable pieces: a structure's closed surface, optionally cut at the midline (a hemisphere
with a flat cut face) and optionally hollowed to a wall of given thickness.

Both the cut and the cavity are made on the implicit field marching cubes reads, never by
cutting triangles:

* **Cut**: the piece's field is ``min(blurred mask, plane ramp)``, where the ramp is a linear
  function of the signed distance to the midline plane that crosses the iso-level at half the gap
  from the plane. Marching cubes interpolates a linear function exactly, so the cut face lies on
  the plane; after smoothing and decimation the vertices of the cut face (and any vertex that
  strayed past it) are put back on the plane. The surface is closed and manifold by construction,
  and the two hemispheres are a gap apart, so they never intersect.
* **Hollow**: the cavity is the set of points deeper inside the piece than the wall (Euclidean
  distance to the mask's boundary, and to the cut plane), meshed the same way and wound inward.
  Thin parts that cannot hold a cavity stay solid.

Everything here is numpy, SciPy and VTK (a meshing helper process runs it; never torch).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace

import edt
import numpy as np
from scipy import ndimage

from gpu_worker.pipeline.defaults import DEFAULT_MASK_SIGMA_VOXELS, DEFAULT_MIN_COMPONENT_ML
from gpu_worker.pipeline.masks import bounding_box
from gpu_worker.pipeline.meshing.mesh import (
    ISO_SURFACE_METHODS,
    clean,
    decimate,
    taubin_smooth,
    to_world,
)
from gpu_worker.pipeline.meshing.midline import Plane
from gpu_worker.pipeline.meshing.repair import repair_candidates
from gpu_worker.pipeline.meshing.surface import (
    Mesh,
    check_mesh,
    compact,
    component_volumes,
    face_vertex_components,
)
from gpu_worker.pipeline.types import MeshQuality, StructureSpec

#: Gap between the two hemispheres, in mm at life size (each cut face is half of it from the
#: midline plane), so the printed halves fit together without touching.
DEFAULT_HEMISPHERE_GAP_MM = 0.4
#: Extra depth of a cavity beyond the asked-for wall, in mm: covers the difference between the
#: voxel boundary the distance is measured from and the smoothed surface (bench/README.md).
DEFAULT_WALL_MARGIN_MM = 0.35
#: Smallest cavity kept, in mL at life size (smaller ones would be a few voxels of nothing).
DEFAULT_MIN_CAVITY_ML = 0.05
#: Taubin iterations on a cavity's surface (the distance field is smooth already).
DEFAULT_CAVITY_SMOOTHING = 5
#: A cavity gets this fraction of its piece's triangle budget (1/n). A quarter was tried: with
#: 50,000 triangles and no smoothing, the MNI brain's 3 mm wall then fell to 0.17 mm in places
#: (96 % of points thick enough; bench/README.md); at a half, 99.5 %.
DEFAULT_CAVITY_TRIANGLE_SHARE = 2
#: Grid spacing a cavity's surface is taken on, in mm (about: a whole multiple of the voxels).
DEFAULT_CAVITY_GRID_MM = 2.0
#: Vertices closer than this to the cut plane after meshing are put on it, in mm.
DEFAULT_PLANE_SNAP_MM = 0.05


@dataclass(frozen=True)
class Cut:
    """Keep the side of ``plane`` given by ``side`` (+1: the normal's side, the subject's right;
    -1: the left), ``gap_mm / 2`` away from it."""

    plane: Plane
    side: int
    gap_mm: float = DEFAULT_HEMISPHERE_GAP_MM

    def depth(self, points: np.ndarray) -> np.ndarray:
        """How far world points (N, 3) are inside the kept side, past half the gap, in mm."""
        return self.side * self.plane.distance(points) - self.gap_mm / 2

    @property
    def down(self) -> tuple[float, float, float]:
        """The cut face's outward normal: the way the piece lies flat on a print bed."""
        return tuple(float(-self.side * v) for v in self.plane.normal)  # type: ignore[return-value]

    def snap(self, vertices: np.ndarray, tolerance_mm: float) -> np.ndarray:
        """World ``vertices`` with every one less than ``tolerance_mm`` inside (or outside) the
        kept side moved onto the cut face, along the plane's normal."""
        depth = self.depth(vertices)
        near = depth < tolerance_mm
        if not near.any():
            return vertices
        out = vertices.copy()
        normal = np.asarray(self.plane.normal)
        out[near] -= (self.side * depth[near])[:, None] * normal[None, :]
        return out


@dataclass(frozen=True)
class PieceParams:
    """How a piece is meshed."""

    target_triangles: int
    smoothing_iterations: int
    sigma_voxels: float = DEFAULT_MASK_SIGMA_VOXELS
    min_component_ml: float = DEFAULT_MIN_COMPONENT_ML
    decimation: str = "fast_simplification"
    iso_surface: str = "flying_edges"
    wall_margin_mm: float = DEFAULT_WALL_MARGIN_MM


@dataclass(frozen=True)
class PieceJob:
    """One piece to mesh: everything a helper process needs, and picklable."""

    name: str
    spec: StructureSpec  #: the labels the piece is made of
    labels: np.ndarray  #: the label map cropped to the box around the piece
    affine: np.ndarray  #: voxel of ``labels`` -> world mm
    voxel_ml: float
    params: PieceParams
    cut: Cut | None = None
    #: wall thickness at life size, in mm (0: solid)
    wall_mm: float = 0.0
    #: the piece's surfaces from an earlier job that meshed it the same way (None: mesh it)
    reuse: Reused | None = None
    #: for a hemisphere: the whole brain's outer surface meshed the same way, life size, world
    #: mm, to cut instead of meshing the hemisphere (None: mesh it)
    whole: Mesh | None = None

    @property
    def cavity_level_mm(self) -> float:
        """Depth inside the piece its cavity's surface is taken at, mm at life size (0: solid)."""
        return self.wall_mm + self.params.wall_margin_mm if self.wall_mm > 0 else 0.0


@dataclass(frozen=True)
class Reused:
    """A piece's surfaces as an earlier job meshed them (same label map, same :func:`surface_key`),
    at life size in world mm: a re-make that changes only the size, the formats or the wall
    rescales and writes them instead of meshing again."""

    outer: Mesh  #: outward normals
    cavity: Mesh | None = None  #: wound into the cavity; None when the earlier piece was solid
    #: the depth ``cavity`` was taken at (:attr:`PieceJob.cavity_level_mm`)
    cavity_level_mm: float = 0.0
    max_depth_mm: float = 0.0  #: the earlier :attr:`PieceMesh.max_depth_mm`
    depth_tolerance_mm: float = 0.0  #: how far above ``max_depth_mm`` the exact figure may be


@dataclass(frozen=True)
class PieceMesh:
    """A meshed piece at life size, world mm."""

    name: str
    mesh: Mesh  #: outer surface plus any cavities (wound inward), outward normals
    quality: MeshQuality
    volume_ml: float  #: of the piece's voxels (after the cut), solid
    hollow: bool  #: True when at least one cavity was made
    cavities: int
    #: deepest point inside the piece (the thickest wall it could have), in mm at life size
    max_depth_mm: float
    seconds: float
    #: how it was meshed (:func:`meshed_as`), so a later re-make can tell whether it may reuse it
    meshed_as: dict[str, object] = field(default_factory=dict)
    reused: bool = False  #: True when its outer surface came from an earlier job
    #: True when it was cut from the brain's surface (:attr:`PieceJob.whole`)
    cut_from_brain: bool = False
    #: thickest wall that leaves a cavity, mm at life size (:func:`wall_limit_mm`)
    max_wall_mm: float = 0.0


def surface_key(job: PieceJob) -> dict[str, object]:
    """Everything the outer surface of ``job``'s piece depends on besides the label map (the
    wall and the print size do not change it)."""
    params = asdict(job.params)
    params.pop("wall_margin_mm")
    cut = job.cut
    return {
        "labels": list(job.spec.labels),
        "keep_largest": job.spec.keep_largest,
        "fill_holes": job.spec.fill_holes,
        **params,
        "cut": None
        if cut is None
        else {"plane": cut.plane.to_dict(), "side": cut.side, "gap_mm": cut.gap_mm},
    }


def same_key(a: object, b: object, tolerance: float = 1e-4) -> bool:
    """Whether two keys (JSON-like values) are equal, numbers within ``tolerance`` (a plane read
    back from report.json differs from the one it was written from in its last digits)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_key(a[k], b[k], tolerance) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        pairs = zip(a, b, strict=False)
        return len(a) == len(b) and all(same_key(x, y, tolerance) for x, y in pairs)
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return abs(float(a) - float(b)) <= tolerance
    return a == b


def _spacing(affine: np.ndarray) -> float:
    return float(np.cbrt(abs(np.linalg.det(affine[:3, :3]))))


def _box_depth(
    cut: Cut, affine: np.ndarray, shape: tuple[int, ...], origin: np.ndarray
) -> np.ndarray:
    """``cut.depth`` at the centre of every voxel of a box of ``shape`` whose first voxel is at
    voxel ``origin`` of ``affine``'s grid (a linear function, evaluated without a point list)."""
    normal = np.asarray(cut.plane.normal)
    # depth(v) = side * (normal · (A (origin + i) + t) - offset) - gap / 2 = g · i + c
    gradient = cut.side * (affine[:3, :3].T @ normal)
    constant = float(cut.depth((affine[:3, :3] @ origin + affine[:3, 3])[None, :])[0])
    axes = [
        np.arange(n, dtype=np.float32) * np.float32(g) for n, g in zip(shape, gradient, strict=True)
    ]
    return (
        axes[0][:, None, None]
        + axes[1][None, :, None]
        + axes[2][None, None, :]
        + np.float32(constant)
    )


def _extract(
    field: np.ndarray, level: float, method: str, origin: np.ndarray, step: int = 1
) -> Mesh:
    """The ``level`` surface of every ``step``-th sample of ``field`` along each axis, in voxel
    coordinates of the full grid (``origin`` is ``field``'s first voxel there)."""
    sampled = np.ascontiguousarray(field[::step, ::step, ::step], dtype=np.float32)
    mesh = ISO_SURFACE_METHODS[method](sampled, level)
    return Mesh(mesh.vertices * step + origin, mesh.faces)


def _snap_voxels(mesh: Mesh, cut: Cut | None, affine: np.ndarray, tolerance_mm: float) -> Mesh:
    """Put vertices near (or past) the cut face onto it; ``mesh`` is in voxel coordinates."""
    if cut is None or mesh.n_triangles == 0:
        return mesh
    world = mesh.vertices @ affine[:3, :3].T + affine[:3, 3]
    snapped = cut.snap(world, tolerance_mm)
    voxels = (snapped - affine[:3, 3]) @ np.linalg.inv(affine[:3, :3]).T
    return Mesh(voxels, mesh.faces)


def piece_mask(job: PieceJob) -> np.ndarray:
    """The piece's voxels before the cut: its labels, largest piece, cavities filled."""
    from gpu_worker.pipeline.meshing.build import structure_mask

    return structure_mask(job.labels, job.spec, job.voxel_ml, job.params.min_component_ml)


def _finish(smoothed: Mesh, job: PieceJob, keep_largest: bool, target: int) -> Mesh:
    """Decimate, clean, snap to the cut and repair; the result is in voxel coordinates."""
    decimated = clean(decimate(smoothed, target, job.params.decimation), keep_largest=keep_largest)
    if job.cut is not None:
        decimated = _snap_voxels(decimated, job.cut, job.affine, DEFAULT_PLANE_SNAP_MM)
        decimated = clean(decimated, keep_largest=keep_largest)
    for candidate in repair_candidates(decimated):
        if candidate is decimated:  # yielded as it is only when it has none of the defects
            return candidate
        candidate = clean(candidate, keep_largest=keep_largest)
        quality = check_mesh(candidate)
        if quality.watertight and quality.vertex_manifold:
            return candidate
    if job.params.decimation != "open3d":
        fallback = clean(decimate(smoothed, target, "open3d"), keep_largest=keep_largest)
        return clean(
            _snap_voxels(fallback, job.cut, job.affine, DEFAULT_PLANE_SNAP_MM), keep_largest
        )
    return decimated


def outer_surface(mask: np.ndarray, job: PieceJob) -> Mesh:
    """The piece's outer surface (cut at the midline when asked), voxel coordinates."""
    box = bounding_box(mask, margin=0)
    pad = 2
    lo = np.array([b.start for b in box], dtype=np.float64)
    field = np.pad(mask[box].astype(np.float32), pad)
    if job.params.sigma_voxels > 0:
        field = ndimage.gaussian_filter(field, job.params.sigma_voxels, truncate=3.0)
    origin = lo - pad
    spacing = _spacing(job.affine)
    if job.cut is not None:
        depth = _box_depth(job.cut, job.affine, field.shape, origin)
        np.minimum(field, 0.5 + depth / np.float32(2 * spacing), out=field)
    raw = _extract(field, 0.5, job.params.iso_surface, origin)
    if raw.n_triangles == 0:
        return raw
    raw = clean(raw, keep_largest=job.spec.keep_largest or job.cut is not None, duplicates=False)
    on_face = None
    if job.cut is not None:  # vertices marching cubes put on the cut face stay on it
        world = raw.vertices @ job.affine[:3, :3].T + job.affine[:3, 3]
        on_face = np.abs(job.cut.depth(world)) < 1e-3
    smoothed = taubin_smooth(raw, job.params.smoothing_iterations)
    if on_face is not None and on_face.any():
        world = smoothed.vertices @ job.affine[:3, :3].T + job.affine[:3, 3]
        depth = job.cut.depth(world)
        move = on_face | (depth < 0)
        world[move] -= (job.cut.side * depth[move])[:, None] * np.asarray(job.cut.plane.normal)[
            None, :
        ]
        voxels = (world - job.affine[:3, 3]) @ np.linalg.inv(job.affine[:3, :3]).T
        smoothed = Mesh(voxels, smoothed.faces)
    keep_largest = job.spec.keep_largest or job.cut is not None
    return _finish(smoothed, job, keep_largest, job.params.target_triangles)


def cavity_surface(mask: np.ndarray, job: PieceJob) -> tuple[Mesh, float]:
    """The surface of the cavity left inside the piece by a wall of ``job.wall_mm``, wound to
    face into the cavity (voxel coordinates), and the piece's deepest point in mm."""
    box = bounding_box(mask, margin=0)
    pad = 2
    lo = np.array([b.start for b in box], dtype=np.float64)
    inside = np.pad(mask[box], pad)
    spacing = _spacing(job.affine)
    # Distance from each voxel centre to the nearest outside voxel centre; the boundary of the
    # mask lies half a voxel in from that centre.
    # edt (seung-lab, the makers of cc3d and fill_voids): the same exact distances as SciPy's
    # distance_transform_edt, about 4 times faster on a 1 mm brain.
    depth = edt.edt(inside, anisotropy=(spacing,) * 3, black_border=False, parallel=1)
    depth -= np.float32(spacing / 2)
    origin = lo - pad
    if job.cut is not None:
        np.minimum(depth, _box_depth(job.cut, job.affine, depth.shape, origin), out=depth)
    deepest = float(depth.max())
    level = job.wall_mm + job.params.wall_margin_mm
    if deepest <= level + spacing / 2:
        return _empty(), deepest
    # A coarser grid is enough for a surface nobody sees: the distance only bends downward
    # between samples (it is semi-concave), so the cavity shrinks a little, never the wall.
    step = max(1, round(DEFAULT_CAVITY_GRID_MM / spacing))
    raw = _extract(depth, level, job.params.iso_surface, origin, step)
    if raw.n_triangles == 0:
        return _empty(), deepest
    raw = _drop_small(clean(raw), DEFAULT_MIN_CAVITY_ML * 1000.0 / spacing**3)
    if raw.n_triangles == 0:
        return _empty(), deepest
    smoothed = taubin_smooth(raw, DEFAULT_CAVITY_SMOOTHING)
    target = max(job.params.target_triangles // DEFAULT_CAVITY_TRIANGLE_SHARE, 1000)
    decimated = clean(decimate(smoothed, target, job.params.decimation))
    for candidate in repair_candidates(decimated):
        if candidate is decimated:  # yielded as it is only when it has none of the defects
            break
        candidate = clean(candidate)
        quality = check_mesh(candidate)
        if quality.watertight and quality.vertex_manifold:
            decimated = candidate
            break
    # Extracted from the distance field, the triangles face away from the deep inside, i.e.
    # out of the cavity into the wall; the shell's inner surface must face into the cavity.
    return Mesh(decimated.vertices, np.ascontiguousarray(decimated.faces[:, ::-1])), deepest


def cut_surface(whole: Mesh, cut: Cut) -> Mesh | None:
    """The kept side of a closed surface (world mm), cut ``cut.gap_mm / 2`` from the plane and
    closed there with a flat face (Manifold's exact plane cut); its largest piece, or None when
    Manifold does not take the surface as a closed manifold."""
    import manifold3d

    solid = manifold3d.Manifold(
        manifold3d.Mesh(
            vert_properties=np.ascontiguousarray(whole.vertices, dtype=np.float32),
            tri_verts=np.ascontiguousarray(whole.faces, dtype=np.uint32),
        )
    )
    if solid.status() != manifold3d.Error.NoError:
        return None
    normal = cut.side * np.asarray(cut.plane.normal)
    kept = solid.trim_by_plane(normal.tolist(), cut.side * cut.plane.offset_mm + cut.gap_mm / 2)
    out = kept.to_mesh()
    faces = np.asarray(out.tri_verts, dtype=np.int64).reshape(-1, 3)
    if len(faces) == 0:
        return None
    vertices = np.asarray(out.vert_properties, dtype=np.float64)[:, :3]
    return clean(Mesh(vertices, faces), keep_largest=True)


def wall_limit_mm(deepest_mm: float, job: PieceJob) -> float:
    """The thickest wall, in mm at life size, that leaves a cavity in a piece whose deepest
    point is ``deepest_mm`` deep (the rule :func:`cavity_surface` applies)."""
    spacing = _spacing(job.affine)
    return max(deepest_mm - job.params.wall_margin_mm - spacing / 2, 0.0)


def estimate_depth(mask: np.ndarray, job: PieceJob) -> tuple[float, float]:
    """The depth of the deepest point inside a solid piece, in mm at life size, measured on a
    grid of about :data:`DEFAULT_CAVITY_GRID_MM` (an eighth of the work of the exact figure),
    and how much deeper the exact figure may be.

    Sampled points keep their inside/outside, and outside samples are a subset of the outside,
    so a sample's coarse depth is at least its exact one less the coarser half-voxel; the
    deepest point is within half a coarse diagonal of a sample.
    """
    spacing = _spacing(job.affine)
    step = max(1, round(DEFAULT_CAVITY_GRID_MM / spacing))
    coarse = spacing * step
    tolerance = coarse * (np.sqrt(3.0) + 1.0) / 2 - spacing / 2
    box = bounding_box(mask, margin=0)
    if box is None:
        return 0.0, tolerance
    pad = 1
    lo = np.array([b.start for b in box], dtype=np.float64) - pad
    inside = np.ascontiguousarray(np.pad(mask[box], pad)[::step, ::step, ::step])
    depth = edt.edt(inside, anisotropy=(coarse,) * 3, black_border=False, parallel=1)
    depth -= np.float32(coarse / 2)
    if job.cut is not None:
        grid = job.affine.copy()
        grid[:3, :3] *= step
        np.minimum(depth, _box_depth(job.cut, grid, depth.shape, lo / step), out=depth)
    return max(float(depth.max()), 0.0), float(tolerance)


def _empty() -> Mesh:
    """A mesh with no vertices and no faces."""
    return Mesh(np.zeros((0, 3)), np.zeros((0, 3), np.int64))


def _drop_small(mesh: Mesh, min_voxels: float) -> Mesh:
    """``mesh`` without closed pieces enclosing fewer than ``min_voxels`` voxels."""
    if mesh.n_triangles == 0:
        return mesh
    labels, volumes = component_volumes(mesh)
    keep = np.abs(volumes)[labels] >= min_voxels
    return compact(Mesh(mesh.vertices, mesh.faces[keep]))


def _join(a: Mesh, b: Mesh) -> Mesh:
    if b.n_triangles == 0:
        return a
    return Mesh(
        np.concatenate([a.vertices, b.vertices]),
        np.concatenate([a.faces, b.faces + len(a.vertices)]),
    )


def _voxels_to_world(mesh: Mesh, affine: np.ndarray) -> Mesh:
    """``mesh`` mapped through ``affine``, winding kept as seen from the same side."""
    faces = mesh.faces[:, ::-1] if np.linalg.det(affine[:3, :3]) < 0 else mesh.faces
    return Mesh(mesh.vertices @ affine[:3, :3].T + affine[:3, 3], np.ascontiguousarray(faces))


def _kept_voxels(job: PieceJob) -> tuple[np.ndarray, int]:
    """The piece's voxels to mesh (for a hemisphere: its side and two voxels past the cut, half
    the volume to blur, mesh and measure distances in) and how many of them are its own."""
    mask = piece_mask(job)
    if job.cut is None or not mask.any():
        return mask, int(np.count_nonzero(mask))
    box = bounding_box(mask, margin=0)
    origin = np.array([b.start for b in box], dtype=np.float64)
    depth = _box_depth(job.cut, job.affine, mask[box].shape, origin)
    kept = np.zeros_like(mask)
    kept[box] = mask[box] & (depth > -2 * _spacing(job.affine))
    return kept, int(np.count_nonzero(mask[box] & (depth >= 0)))


def make_piece(job: PieceJob) -> PieceMesh | None:
    """Mesh one piece at life size (what a helper process runs); None when nothing is left.

    With ``job.reuse`` the outer surface (and the cavity, when it was taken at the same depth)
    comes from the earlier job; should it fail the checks, the piece is meshed afresh."""
    start = time.perf_counter()
    mask, solid_voxels = _kept_voxels(job)
    if not mask.any():
        return None
    reuse = job.reuse
    cut_from_whole = None
    if reuse is None and job.whole is not None and job.cut is not None:
        cut_from_whole = cut_surface(job.whole, job.cut)
    if reuse is not None:
        outer = reuse.outer
    elif cut_from_whole is not None:
        outer = cut_from_whole
    else:
        outer = _fresh_outer(mask, job)
        if outer.n_triangles == 0:
            return None
    cavity, deepest, tolerance = _empty(), 0.0, 0.0
    level = job.cavity_level_mm
    if (
        level > 0
        and reuse is not None
        and reuse.cavity is not None
        and (abs(reuse.cavity_level_mm - level) < 1e-6)
    ):
        cavity, deepest = reuse.cavity, reuse.max_depth_mm
        tolerance = reuse.depth_tolerance_mm
    elif level > 0:
        cavity, deepest = _fresh_cavity(mask, job)
    elif reuse is not None and reuse.max_depth_mm > 0:
        deepest, tolerance = reuse.max_depth_mm, reuse.depth_tolerance_mm
    else:
        deepest, tolerance = estimate_depth(mask, job)
    piece = _assemble(
        job,
        _join(outer, cavity),
        cavity,
        deepest,
        tolerance,
        solid_voxels,
        reused=reuse is not None,
        cut_from_brain=cut_from_whole is not None,
    )
    if (piece.reused or piece.cut_from_brain) and not piece.quality.ok:
        return make_piece(replace(job, reuse=None, whole=None))
    return replace(piece, seconds=time.perf_counter() - start)


def _fresh_outer(mask: np.ndarray, job: PieceJob) -> Mesh:
    """The piece's outer surface meshed from ``mask`` (world mm; empty when nothing is left)."""
    voxel_outer = outer_surface(mask, job)
    return to_world(voxel_outer, job.affine) if voxel_outer.n_triangles else _empty()


def _fresh_cavity(mask: np.ndarray, job: PieceJob) -> tuple[Mesh, float]:
    """The piece's cavity meshed from ``mask`` (world mm, wound into the cavity; empty when the
    wall leaves none) and the depth of the piece's deepest point."""
    voxel_cavity, deepest = cavity_surface(mask, job)
    if voxel_cavity.n_triangles == 0:
        return _empty(), deepest
    return compact(_voxels_to_world(voxel_cavity, job.affine)), deepest


def _assemble(
    job: PieceJob,
    mesh: Mesh,
    cavity: Mesh,
    deepest: float,
    tolerance: float,
    solid_voxels: int,
    *,
    reused: bool = False,
    cut_from_brain: bool = False,
) -> PieceMesh:
    """A piece from its surfaces (``mesh``: the outer surface and ``cavity`` joined), checked
    and described; its ``seconds`` are left for the caller."""
    cavities = (
        face_vertex_components(cavity.faces, len(cavity.vertices))[0] if cavity.n_triangles else 0
    )
    return PieceMesh(
        name=job.name,
        mesh=mesh,
        quality=check_mesh(mesh),
        volume_ml=solid_voxels * job.voxel_ml,
        hollow=cavity.n_triangles > 0,
        cavities=int(cavities),
        max_depth_mm=deepest,
        seconds=0.0,
        meshed_as={
            "surface": surface_key(job),
            "cavity_level_mm": job.cavity_level_mm if cavity.n_triangles else 0.0,
            "max_depth_mm": deepest,
            "depth_tolerance_mm": tolerance,
            "wall_limit_mm": wall_limit_mm(deepest + tolerance, job),
        },
        reused=reused,
        cut_from_brain=cut_from_brain,
        max_wall_mm=wall_limit_mm(deepest, job),
    )


@dataclass(frozen=True)
class OuterPart:
    """A hollow piece's outer surface, made while another helper makes its cavity."""

    mesh: Mesh  #: world mm; empty when nothing is left
    solid_voxels: int  #: the piece's own voxels (after the cut)
    seconds: float


@dataclass(frozen=True)
class CavityPart:
    """A hollow piece's cavity, made while another helper makes its outer surface."""

    mesh: Mesh  #: world mm, wound into the cavity; empty when the wall leaves none
    deepest_mm: float  #: depth of the piece's deepest point
    seconds: float


def mesh_outer(job: PieceJob) -> OuterPart:
    """One half of :func:`make_piece` for a hollow piece meshed anew: its outer surface."""
    start = time.perf_counter()
    mask, solid_voxels = _kept_voxels(job)
    outer = _fresh_outer(mask, job) if mask.any() else _empty()
    return OuterPart(outer, solid_voxels, time.perf_counter() - start)


def mesh_cavity(job: PieceJob) -> CavityPart:
    """The other half: its cavity."""
    start = time.perf_counter()
    mask, _ = _kept_voxels(job)
    cavity, deepest = _fresh_cavity(mask, job) if mask.any() else (_empty(), 0.0)
    return CavityPart(cavity, deepest, time.perf_counter() - start)


def join_parts(job: PieceJob, outer: OuterPart, cavity: CavityPart) -> PieceMesh | None:
    """The piece :func:`make_piece` would make, from its two halves made side by side."""
    if outer.mesh.n_triangles == 0:
        return None
    start = time.perf_counter()
    piece = _assemble(
        job,
        _join(outer.mesh, cavity.mesh),
        cavity.mesh,
        cavity.deepest_mm,
        0.0,
        outer.solid_voxels,
    )
    joined = time.perf_counter() - start
    return replace(piece, seconds=outer.seconds + cavity.seconds + joined)


def scaled(mesh: Mesh, factor: float) -> Mesh:
    """``mesh`` scaled about the world origin (positions stay in the scanner's frame)."""
    return Mesh(mesh.vertices * factor, mesh.faces)


def print_size(mesh: Mesh) -> list[float]:
    """Bounding-box edges of ``mesh`` along x, y, z, in mm."""
    if mesh.n_triangles == 0:
        return [0.0, 0.0, 0.0]
    return (mesh.vertices.max(axis=0) - mesh.vertices.min(axis=0)).tolist()


__all__ = [
    "Cut",
    "PieceJob",
    "PieceMesh",
    "PieceParams",
    "Reused",
    "make_piece",
    "print_size",
    "same_key",
    "scaled",
    "surface_key",
]
