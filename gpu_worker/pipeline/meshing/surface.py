"""Triangle meshes as plain arrays, and the checks a slicer or a viewer cares about."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from scipy.spatial import ConvexHull, QhullError

from gpu_worker.pipeline.types import MeshQuality


@dataclass(frozen=True)
class Mesh:
    """A triangle mesh: ``vertices`` (N, 3) float in mm, ``faces`` (M, 3) int, counter-clockwise
    seen from outside."""

    vertices: np.ndarray
    faces: np.ndarray

    @property
    def n_triangles(self) -> int:
        """Number of triangles."""
        return len(self.faces)

    def face_normals(self) -> np.ndarray:
        """Unit normal of each face, (M, 3) float32."""
        v = self.vertices[self.faces]
        n = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
        length = np.linalg.norm(n, axis=1, keepdims=True)
        return (n / np.maximum(length, 1e-12)).astype(np.float32)

    def vertex_normals(self) -> np.ndarray:
        """Area-weighted unit normal of each vertex, (N, 3) float32 (computed once)."""
        return self._vertex_normals

    @cached_property
    def _vertex_normals(self) -> np.ndarray:
        v = self.vertices[self.faces].astype(np.float64)
        n = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
        count = len(self.vertices)
        out = np.stack(
            [
                sum(
                    np.bincount(self.faces[:, k], weights=n[:, axis], minlength=count)
                    for k in range(3)
                )
                for axis in range(3)
            ],
            axis=1,
        )
        length = np.linalg.norm(out, axis=1, keepdims=True)
        return (out / np.maximum(length, 1e-12)).astype(np.float32)

    def area(self) -> float:
        """Surface area, in mm²."""
        v = self.vertices[self.faces].astype(np.float64)
        return float(
            0.5 * np.linalg.norm(np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0]), axis=1).sum()
        )

    def signed_volume(self) -> float:
        """Enclosed volume in mm³; positive when the faces are wound with normals pointing out."""
        return _signed_volume(self.vertices[self.faces].astype(np.float64))


def unique(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values of an integer array.

    Same result as ``np.unique(values)``, whose hash-based path in numpy 2.4 is 50-100 times
    slower than a sort on the arrays meshes produce.
    """
    ordered = np.sort(values, axis=None)
    if len(ordered) == 0:
        return ordered
    return ordered[np.concatenate([[True], ordered[1:] != ordered[:-1]])]


def compact(mesh: Mesh) -> Mesh:
    """``mesh`` without the vertices no face uses (faces renumbered, order kept)."""
    used = np.zeros(len(mesh.vertices), dtype=bool)
    used[mesh.faces] = True
    if used.all():
        return Mesh(mesh.vertices, mesh.faces.astype(np.int64, copy=False))
    new_index = np.cumsum(used, dtype=np.int64) - 1
    return Mesh(mesh.vertices[used], new_index[mesh.faces])


def face_keys(faces: np.ndarray) -> np.ndarray:
    """One int64 per face that is equal for faces over the same three vertices, in any order."""
    key = np.sort(faces.astype(np.int64), axis=1)
    n = int(key.max()) + 1 if len(key) else 1
    if n**3 < 2**62:
        return (key[:, 0] * n + key[:, 1]) * n + key[:, 2]
    return np.unique(key, axis=0, return_inverse=True)[1].ravel()


@dataclass(frozen=True)
class EdgeTable:
    """Every half-edge of a mesh grouped by undirected edge, from one sort."""

    start: np.ndarray  #: (3M,) start vertex of each half-edge (face f's k-th edge is 3f+k)
    end: np.ndarray  #: (3M,) end vertex
    counts: np.ndarray  #: faces per undirected edge, one entry per distinct edge
    twin_a: np.ndarray  #: half-edges of edges used by exactly two oppositely wound faces...
    twin_b: np.ndarray  #: ...and their twins
    same_direction: int  #: edges used by two faces wound the same way (orientation flips)


def edge_table(faces: np.ndarray, n_vertices: int) -> EdgeTable:
    """Group the half-edges of ``faces`` by undirected edge (one argsort, no hashing)."""
    start = faces.reshape(-1).astype(np.int64)
    end = faces[:, [1, 2, 0]].reshape(-1).astype(np.int64)
    key = np.minimum(start, end) * n_vertices + np.maximum(start, end)
    order = np.argsort(key)
    ordered = key[order]
    first = np.concatenate([[0], np.flatnonzero(ordered[1:] != ordered[:-1]) + 1])
    counts = np.diff(np.concatenate([first, [len(ordered)]]))
    pair_first = first[counts == 2]
    a, b = order[pair_first], order[pair_first + 1]
    opposite = start[a] == end[b]
    return EdgeTable(start, end, counts, a[opposite], b[opposite], int((~opposite).sum()))


def check_mesh(mesh: Mesh) -> MeshQuality:
    """Measure watertightness, manifoldness and orientation of ``mesh`` (numpy only, O(M log M))."""
    faces = mesh.faces.astype(np.int64)
    n = len(mesh.vertices)
    if len(faces) == 0:
        return MeshQuality(False, False, False, False, False, 0, 0, 0)
    repeated = (
        (faces[:, 0] == faces[:, 1]) | (faces[:, 1] == faces[:, 2]) | (faces[:, 0] == faces[:, 2])
    )
    v = mesh.vertices[faces].astype(np.float64)
    zero_area = np.linalg.norm(np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0]), axis=1) <= 1e-12
    degenerate = int((repeated | zero_area).sum())

    edges = edge_table(faces, n)
    watertight = bool(np.all(edges.counts == 2))
    edge_manifold = bool(np.all(edges.counts <= 2))
    oriented = watertight and edges.same_direction == 0

    used = np.zeros(n, dtype=bool)
    used[faces] = True
    n_used = int(np.count_nonzero(used))
    # Every unused vertex is a component of its own in the face-vertex graph.
    components = face_vertex_components(faces, n)[0] - (n - n_used)
    vertex_manifold = oriented and _corner_fans(faces, edges)[0] == n_used
    euler = n_used - len(edges.counts) + len(faces)
    return MeshQuality(
        watertight=watertight,
        edge_manifold=edge_manifold,
        vertex_manifold=bool(vertex_manifold),
        oriented=oriented,
        outward=_signed_volume(v) > 0,
        components=int(components),
        degenerate_faces=degenerate,
        euler=int(euler),
    )


def hull_area_ratio(mesh: Mesh, area: float | None = None) -> float | None:
    """Surface area (``area`` if already known) over convex-hull area: 1 for a smooth blob,
    well above 1 with sulci."""
    try:
        hull = ConvexHull(mesh.vertices)
    except (QhullError, ValueError):
        return None
    return round((mesh.area() if area is None else area) / hull.area, 3)


def _signed_volume(corners: np.ndarray) -> float:
    """Enclosed volume of faces given as their (M, 3, 3) corner coordinates."""
    return float(
        np.einsum("ij,ij->i", corners[:, 0], np.cross(corners[:, 1], corners[:, 2])).sum() / 6.0
    )


def face_vertex_components(faces: np.ndarray, n_vertices: int) -> tuple[int, np.ndarray]:
    """Connected pieces of the graph whose nodes are the M faces then the N vertices, each face
    joined to its three vertices: its CSR form needs no sorting (three entries per face row)."""
    m = len(faces)
    indptr = np.concatenate([np.arange(0, 3 * m + 1, 3), np.full(n_vertices, 3 * m)])
    graph = sparse.csr_matrix(
        (np.ones(3 * m, dtype=np.int8), faces.reshape(-1) + m, indptr),
        shape=(m + n_vertices, m + n_vertices),
    )
    return connected_components(graph, directed=False)


def component_volumes(mesh: Mesh) -> tuple[np.ndarray, np.ndarray]:
    """Each face's connected piece (M,) and each piece's signed enclosed volume in mesh units³
    (positive for a surface wound outward, negative for a cavity's, wound inward)."""
    count, labels = face_vertex_components(mesh.faces, len(mesh.vertices))
    labels = labels[: mesh.n_triangles]
    corners = mesh.vertices[mesh.faces]
    volume = np.einsum("ij,ij->i", corners[:, 0], np.cross(corners[:, 1], corners[:, 2])) / 6.0
    return labels, np.bincount(labels, weights=volume, minlength=count)


def _corner_fans(faces: np.ndarray, edges: EdgeTable) -> tuple[int, np.ndarray]:
    m = len(faces)
    # Half-edge h = 3f + k starts at corner 3f + k and ends at corner 3f + (k + 1) % 3. Joining
    # each half-edge's start corner to the end corner of its twin joins both pairs of corners
    # of a shared edge (the twin's own row joins the other pair): one entry per row at most.
    corner_end = (np.arange(m)[:, None] * 3 + np.array([1, 2, 0])[None, :]).reshape(-1)
    twin = np.full(3 * m, -1, dtype=np.int64)
    twin[edges.twin_a] = edges.twin_b
    twin[edges.twin_b] = edges.twin_a
    has_twin = twin >= 0
    indptr = np.zeros(3 * m + 1, dtype=np.int64)
    np.cumsum(has_twin, out=indptr[1:])
    graph = sparse.csr_matrix(
        (np.ones(int(indptr[-1]), dtype=np.int8), corner_end[twin[has_twin]], indptr),
        shape=(3 * m, 3 * m),
    )
    return connected_components(graph, directed=False)


def corner_fans(faces: np.ndarray, n: int, edges: EdgeTable | None = None) -> np.ndarray:
    """Fan label of every face corner, (3M,): corners around one vertex joined across edges.

    Each face corner is a node; the corners at vertex ``a`` of the two faces sharing edge (a, b)
    are joined (half-edge a->b in one face, its twin b->a in the other). A vertex whose corners
    carry more than one label is non-manifold.
    """
    return _corner_fans(faces, edges or edge_table(faces, n))[1]


def fan_split_vertices(faces: np.ndarray, fans: np.ndarray) -> np.ndarray:
    """Vertices whose corners (labelled ``fans``, from :func:`corner_fans`) lie in several fans."""
    fans = fans.astype(np.int64)
    scale = int(fans.max()) + 1 if len(fans) else 1
    owners = unique(faces.reshape(-1).astype(np.int64) * scale + fans) // scale
    return unique(owners[1:][owners[1:] == owners[:-1]])
