"""Measurements of printed pieces that tests and the bench script share: wall thickness of a
hollow shell, flatness of a cut face, the gap between two pieces."""

from __future__ import annotations

import numpy as np
from vtkmodules.util.numpy_support import numpy_to_vtk, numpy_to_vtkIdTypeArray
from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
from vtkmodules.vtkFiltersCore import vtkImplicitPolyDataDistance

from gpu_worker.pipeline.meshing.surface import Mesh, compact, face_vertex_components


def _polydata(mesh: Mesh) -> vtkPolyData:
    points = vtkPoints()
    points.SetData(numpy_to_vtk(np.ascontiguousarray(mesh.vertices, dtype=np.float64), deep=True))
    cells = vtkCellArray()
    offsets = np.arange(0, 3 * mesh.n_triangles + 1, 3, dtype=np.int64)
    cells.SetData(
        numpy_to_vtkIdTypeArray(offsets, deep=True),
        numpy_to_vtkIdTypeArray(
            np.ascontiguousarray(mesh.faces.reshape(-1), dtype=np.int64), deep=True
        ),
    )
    poly = vtkPolyData()
    poly.SetPoints(points)
    poly.SetPolys(cells)
    return poly


def split_shell(mesh: Mesh) -> tuple[Mesh, Mesh]:
    """The outward-wound pieces of ``mesh`` (its outer surface) and the inward-wound ones (the
    surfaces of its cavities)."""
    count, labels = face_vertex_components(mesh.faces, len(mesh.vertices))
    labels = labels[: mesh.n_triangles]
    corners = mesh.vertices[mesh.faces]
    volume = np.einsum("ij,ij->i", corners[:, 0], np.cross(corners[:, 1], corners[:, 2])) / 6.0
    inward = np.bincount(labels, weights=volume, minlength=count)[labels] < 0
    return (
        compact(Mesh(mesh.vertices, mesh.faces[~inward])),
        compact(Mesh(mesh.vertices, mesh.faces[inward])),
    )


def surface_samples(mesh: Mesh, count: int, seed: int = 0) -> np.ndarray:
    """``count`` points spread uniformly by area over ``mesh``'s triangles."""
    corners = mesh.vertices[mesh.faces]
    area = 0.5 * np.linalg.norm(
        np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1
    )
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(area), size=count, p=area / area.sum())
    u, v = rng.random(count), rng.random(count)
    flip = u + v > 1
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    c = corners[pick]
    return c[:, 0] + u[:, None] * (c[:, 1] - c[:, 0]) + v[:, None] * (c[:, 2] - c[:, 0])


def distances_to(mesh: Mesh, points: np.ndarray) -> np.ndarray:
    """Unsigned distance from each point to the nearest point of ``mesh``'s surface, in mm."""
    implicit = vtkImplicitPolyDataDistance()
    implicit.SetInput(_polydata(mesh))
    return np.array([abs(implicit.EvaluateFunction(*p)) for p in points])


def wall_thickness(mesh: Mesh, samples: int = 5000, seed: int = 0) -> np.ndarray:
    """Wall thickness of a hollow piece at ``samples`` points of its cavities' surfaces: each
    point's distance to the outer surface, in mm (empty for a solid piece)."""
    outer, cavities = split_shell(mesh)
    if cavities.n_triangles == 0:
        return np.zeros(0)
    return distances_to(outer, surface_samples(cavities, samples, seed))


def flatness(points: np.ndarray) -> tuple[np.ndarray, float]:
    """The least-squares plane through ``points`` (its unit normal) and the largest distance of
    a point from it, in mm."""
    centre = points.mean(axis=0)
    _, _, vt = np.linalg.svd(points - centre, full_matrices=False)
    normal = vt[-1]
    return normal, float(np.abs((points - centre) @ normal).max())
