"""Step 5: closed, manifold, outward-facing surfaces in world mm, that keep grooves open."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gpu_worker.pipeline.meshing.build import build_meshes, surface
from gpu_worker.pipeline.meshing.mesh import (
    clean,
    decimate,
    marching_cubes_mask,
    taubin_smooth,
    to_world,
)
from gpu_worker.pipeline.meshing.repair import repair, repair_candidates
from gpu_worker.pipeline.meshing.surface import Mesh, check_mesh
from gpu_worker.pipeline.types import MeshParams, Segmentation, StructureSpec


def ball(n: int = 64, radius: float = 20.0, centre: float | None = None) -> np.ndarray:
    c = n / 2 if centre is None else centre
    idx = np.indices((n, n, n)) - c
    return np.sqrt((idx**2).sum(axis=0)) < radius


def sphere_mesh(radius: float = 10.0, offset: float = 0.0) -> Mesh:
    mesh = marching_cubes_mask(ball(40, radius))
    return Mesh(mesh.vertices + offset, mesh.faces)


def test_ball_becomes_a_closed_outward_sphere_of_the_right_volume() -> None:
    mesh, quality = surface(ball(), np.eye(4), MeshParams(), keep_largest=True)
    assert quality.ok and quality.components == 1 and quality.euler == 2
    expected = 4 / 3 * np.pi * 20.0**3
    assert mesh.signed_volume() == pytest.approx(expected, rel=0.03)
    radii = np.linalg.norm(mesh.vertices - 32.0, axis=1)
    assert radii.min() > 18.5 and radii.max() < 21.0


@pytest.mark.parametrize(
    "affine",
    [
        np.diag([-1.0, 1.0, 1.0, 1.0]),  # mirrored: determinant < 0
        np.diag([-0.8, -0.8, 1.2, 1.0]),  # LPS-like, anisotropic
        np.array([[0.9, 0.3, 0, 10], [0, 1.1, 0.2, -5], [0.1, 0, -1.0, 7], [0, 0, 0, 1.0]]),
    ],
    ids=["mirrored", "lps_anisotropic", "sheared_mirrored"],
)
def test_any_affine_keeps_normals_outward_and_places_the_mesh_in_world_mm(affine) -> None:
    mesh, quality = surface(ball(), affine, MeshParams(), keep_largest=True)
    assert quality.ok
    assert mesh.signed_volume() > 0
    expected = 4 / 3 * np.pi * 20.0**3 * abs(np.linalg.det(affine[:3, :3]))
    assert mesh.signed_volume() == pytest.approx(expected, rel=0.03)
    centre = affine[:3, :3] @ np.full(3, 32.0) + affine[:3, 3]
    np.testing.assert_allclose(mesh.vertices.mean(axis=0), centre, atol=0.5)


def test_normals_point_away_from_the_centre() -> None:
    mesh, _ = surface(ball(), np.diag([-1.0, 1.0, 1.0, 1.0]), MeshParams(), keep_largest=True)
    outward = mesh.vertices - mesh.vertices.mean(axis=0)
    assert (np.einsum("ij,ij->i", mesh.vertex_normals(), outward) > 0).mean() > 0.99


def test_both_iso_surface_methods_give_the_same_closed_surface() -> None:
    # Given a ball with a groove cut into it, meshed by VTK's flying edges and by scikit-image
    mask = ball()
    mask[31:33, 16:48, 40:] = False
    fast = marching_cubes_mask(mask, method="flying_edges")
    reference = marching_cubes_mask(mask, method="scikit_image")
    # Then both are closed and face outward, and they are the same surface
    assert check_mesh(fast).ok and check_mesh(reference).ok
    assert fast.area() == pytest.approx(reference.area(), rel=0.005)
    assert fast.signed_volume() == pytest.approx(reference.signed_volume(), rel=0.005)
    np.testing.assert_allclose(fast.vertices.min(axis=0), reference.vertices.min(axis=0), atol=0.01)
    np.testing.assert_allclose(fast.vertices.max(axis=0), reference.vertices.max(axis=0), atol=0.01)


@pytest.mark.parametrize("method", ["fast_simplification", "open3d"])
def test_decimation_reaches_the_target_and_stays_closed(method: str) -> None:
    raw = taubin_smooth(marching_cubes_mask(ball(96, 40)), 10)
    assert raw.n_triangles > 40_000
    small = clean(decimate(raw, 5_000, method))
    assert 4_500 <= small.n_triangles <= 5_000
    assert check_mesh(small).ok


def test_smoothing_keeps_a_narrow_groove_open() -> None:
    # Given a ball with a slot two voxels wide and 12 deep cut into its top, like a sulcus
    mask = ball()
    mask[31:33, 16:48, 40:] = False
    mesh, quality = surface(mask, np.eye(4), MeshParams(target_triangles=20_000), True)
    assert quality.ok
    # Then the surface still reaches down into the slot
    bottom = np.array([32.0, 32.0, 41.0])
    assert np.linalg.norm(mesh.vertices - bottom, axis=1).min() < 1.5
    # and smoothing changed the volume by under 3 %
    raw = marching_cubes_mask(mask)
    assert mesh.signed_volume() == pytest.approx(raw.signed_volume(), rel=0.03)


def test_check_mesh_sees_holes_and_inside_out_meshes() -> None:
    mesh = sphere_mesh()
    assert check_mesh(mesh).ok
    holed = check_mesh(Mesh(mesh.vertices, mesh.faces[1:]))
    assert not holed.watertight and not holed.ok
    inverted = check_mesh(Mesh(mesh.vertices, mesh.faces[:, ::-1]))
    assert inverted.watertight and not inverted.outward and not inverted.ok


def _glued(shared: int) -> Mesh:
    """Two spheres whose first ``shared`` boundary-adjacent vertices are made one: shared=1 pinches
    them at a vertex, shared=2 along an edge (four faces on one edge)."""
    a, b = sphere_mesh(), sphere_mesh(offset=19.0)
    top = int(np.argmax(a.vertices[:, 0]))
    bottom = int(np.argmin(b.vertices[:, 0]))
    faces_b = b.faces + len(a.vertices)
    pairs = [(bottom + len(a.vertices), top)]
    if shared == 2:
        fa = a.faces[(a.faces == top).any(axis=1)][0]
        fb = b.faces[(b.faces == bottom).any(axis=1)][0]
        na = int(fa[(list(fa).index(top) + 1) % 3])
        nb = int(fb[(list(fb).index(bottom) + 2) % 3])
        pairs.append((nb + len(a.vertices), na))
    for old, new in pairs:
        faces_b[faces_b == old] = new
    mesh = Mesh(np.concatenate([a.vertices, b.vertices]), np.concatenate([a.faces, faces_b]))
    return clean(mesh)


@pytest.mark.parametrize("shared", [1, 2], ids=["pinched_vertex", "pinched_edge"])
def test_repair_fixes_pinched_vertices_and_edges(shared: int) -> None:
    broken = _glued(shared)
    assert not check_mesh(broken).ok
    fixed = repair(broken)
    quality = check_mesh(fixed)
    assert quality.ok and quality.components == 2
    assert fixed.signed_volume() == pytest.approx(broken.signed_volume(), rel=0.02)


def test_repair_removes_folded_face_pairs() -> None:
    mesh = sphere_mesh()
    folded = Mesh(mesh.vertices, np.concatenate([mesh.faces, mesh.faces[:1, ::-1]]))
    assert not check_mesh(folded).ok
    assert check_mesh(repair(folded)).ok


def test_build_meshes_reports_each_structure_with_volume(tmp_path: Path) -> None:
    labels = np.zeros((64, 64, 64), np.uint8)
    labels[ball()] = 2
    labels[ball(radius=10)] = 3
    seg = Segmentation(
        labels=labels,
        affine=np.diag([2.0, 2.0, 2.0, 1.0]),
        names={0: "background", 2: "grey_matter", 3: "white_matter"},
        structures=(StructureSpec("brain", (2, 3)), StructureSpec("white_matter", (3,))),
        postprocess="brain_tissue",
    )
    built = build_meshes(
        seg, MeshParams(target_triangles=10_000), out_dir=tmp_path, formats=("stl", "glb")
    )
    assert [s.spec.name for s in built] == ["brain", "white_matter"]
    brain, white = built
    assert brain.volume_ml == pytest.approx(4 / 3 * np.pi * 40.0**3 / 1000, rel=0.03)
    assert white.volume_ml == pytest.approx(4 / 3 * np.pi * 20.0**3 / 1000, rel=0.05)
    assert all(s.quality.ok and s.triangles <= 10_000 for s in built)
    assert brain.files == {"stl": "brain.stl", "glb": "brain.glb"}
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "brain.glb",
        "brain.stl",
        "white_matter.glb",
        "white_matter.stl",
    ]
    # a sphere's area is its hull's: the ratio says "no folds"
    assert brain.hull_area_ratio == pytest.approx(1.0, abs=0.03)
    only = build_meshes(seg, MeshParams(), names=("white_matter",))
    assert [s.spec.name for s in only] == ["white_matter"]
    assert only[0].files == {}


def test_to_world_flips_winding_for_mirroring_affines() -> None:
    mesh = sphere_mesh()
    mirrored = to_world(mesh, np.diag([-1.0, 1.0, 1.0, 1.0]))
    assert mirrored.signed_volume() == pytest.approx(mesh.signed_volume())


def test_a_good_mesh_is_its_own_only_repair_candidate() -> None:
    mesh = sphere_mesh()
    assert [c is mesh for c in repair_candidates(mesh)] == [True]


def test_clean_drops_duplicates_degenerates_small_pieces_and_unused_vertices() -> None:
    big, small = sphere_mesh(), sphere_mesh(radius=4.0, offset=30.0)
    n = len(big.vertices)
    faces = np.concatenate(
        [
            big.faces,
            big.faces[:1, [1, 2, 0]],  # the same face again, rotated
            [[0, 0, 1]],  # degenerate
            small.faces + n,
        ]
    )
    vertices = np.concatenate([big.vertices, small.vertices, [[99.0, 99.0, 99.0]]])
    cleaned = clean(Mesh(vertices, faces), keep_largest=True)
    np.testing.assert_array_equal(cleaned.faces, big.faces)
    np.testing.assert_array_equal(cleaned.vertices, big.vertices)
