"""Local repair of the rare defects quadric decimation leaves behind.

Edge-collapse decimators without a link-condition check (fast-simplification among them) can
pinch a thin handle into one edge shared by four faces, or fold two faces onto each other. The
fix here is local: drop the faces around each defect, then close each resulting hole with a fan
around its centroid. A pinched handle is thereby cut, which is what a slicer would want anyway.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from gpu_worker.pipeline.meshing.surface import (
    Mesh,
    check_mesh,
    compact,
    corner_fans,
    edge_table,
    face_keys,
    fan_split_vertices,
    unique,
)

#: Attempts (each removes more faces around the defects) before giving up.
MAX_ROUNDS = 8


def _drop_folded_pairs(faces: np.ndarray) -> np.ndarray:
    """Remove every face whose vertex set occurs more than once (folds and duplicates)."""
    keys = face_keys(faces)
    order = np.argsort(keys)
    ordered = keys[order]
    repeated = np.zeros(len(keys), dtype=bool)
    same = ordered[1:] == ordered[:-1]
    repeated[1:] = same
    repeated[:-1] |= same
    if not repeated.any():
        return faces
    keep = np.ones(len(faces), dtype=bool)
    keep[order[repeated]] = False
    return faces[keep]


def _defect_vertices(faces: np.ndarray, n: int) -> np.ndarray:
    """Vertices on an edge not shared by exactly two oppositely wound faces, and vertices whose
    faces form more than one fan (two sheets touching at a point); one edge table for both."""
    edges = edge_table(faces, n)
    good = np.zeros(len(edges.start), dtype=bool)
    good[edges.twin_a] = True
    good[edges.twin_b] = True
    pinched = fan_split_vertices(faces, corner_fans(faces, n, edges))
    return unique(np.concatenate([edges.start[~good], edges.end[~good], pinched]))


def _boundary_loops(faces: np.ndarray, n: int) -> tuple[list[list[int]], np.ndarray]:
    """Boundary loops as vertex lists, following each hole, and the vertices where two holes
    touch (a loop through them is not simple; those must be removed first)."""
    start = faces.reshape(-1).astype(np.int64)
    end = faces[:, [1, 2, 0]].reshape(-1).astype(np.int64)
    directed = start * n + end
    twin = end * n + start
    ordered = np.sort(directed)
    by_twin = np.argsort(twin)  # sorted queries make searchsorted about twice as fast
    queries = twin[by_twin]
    pos = np.clip(np.searchsorted(ordered, queries), 0, len(ordered) - 1)
    open_edge = np.empty(len(twin), dtype=bool)
    open_edge[by_twin] = ordered[pos] != queries
    a, b = start[open_edge], end[open_edge]
    values, counts = np.unique(a, return_counts=True)
    touching = values[counts > 1]
    if len(a) == 0 or len(touching):
        return [], touching
    # The hole runs against the faces' boundary edges: from b back to a.
    nxt = dict(zip(b.tolist(), a.tolist(), strict=True))
    loops, seen = [], set()
    for v0 in nxt:
        if v0 in seen:
            continue
        loop, v = [], v0
        while v not in seen:
            seen.add(v)
            loop.append(v)
            v = nxt[v]
        loops.append(loop)
    return loops, touching


def _fill(vertices: np.ndarray, faces: np.ndarray, loops: list[list[int]]) -> Mesh:
    new_vertices = [vertices]
    new_faces = [faces]
    next_index = len(vertices)
    for loop in loops:
        ring = np.asarray(loop)
        center = vertices[ring].mean(axis=0)
        new_vertices.append(center[None])
        nxt = np.roll(ring, -1)
        c = np.full(len(ring), next_index)
        new_faces.append(np.stack([ring, nxt, c], axis=1))
        next_index += 1
    return Mesh(np.concatenate(new_vertices), np.concatenate(new_faces).astype(np.int64))


def repair_candidates(mesh: Mesh) -> Iterator[Mesh]:
    """Successive repairs of ``mesh``, each rebuilding a wider region around its defects.

    Yields ``mesh`` itself, once, when it has no folded face pair, open or over-shared edge,
    or pinched vertex; the caller checks each candidate (:func:`check_mesh`) and stops at the
    first good one, so a repaired mesh is checked once, in the coordinates it is used in.
    """
    n = len(mesh.vertices)
    original = mesh.faces.astype(np.int64)
    if len(original) == 0:
        yield mesh
        return
    faces = _drop_folded_pairs(original)
    removed = np.zeros(n, dtype=bool)
    removed[_defect_vertices(faces, n)] = True
    if len(faces) == len(original) and not removed.any():
        yield mesh
        return
    for _ in range(MAX_ROUNDS):
        kept = faces[~removed[faces].any(axis=1)]
        loops, touching = _boundary_loops(kept, n)
        if len(touching):
            removed[touching] = True
            continue
        yield compact(_fill(mesh.vertices, kept, loops))
        # Grow the removed region by one ring of faces and try again.
        removed[faces[removed[faces].any(axis=1)].reshape(-1)] = True


def repair(mesh: Mesh) -> Mesh:
    """Return ``mesh`` made watertight, manifold and consistently wound, or unchanged if the
    defects are not local (the caller then falls back to another decimator)."""
    for candidate in repair_candidates(mesh):
        if check_mesh(candidate).ok:
            return candidate
    return mesh
