"""Mesh files that other programs read back: STL, OBJ, PLY (open3d reads them) and GLB."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import open3d as o3d
import pytest

from gpu_worker.pipeline.meshing.mesh import marching_cubes_mask, to_world
from gpu_worker.pipeline.meshing.readers import MeshFileError, read_mesh
from gpu_worker.pipeline.meshing.surface import Mesh, check_mesh
from gpu_worker.pipeline.meshing.writers import (
    GLTF_NODE_MATRIX,
    write_glb,
    write_obj,
    write_ply,
    write_stl,
)


@pytest.fixture(scope="module")
def mesh() -> Mesh:
    idx = np.indices((40, 40, 40)) - 20
    mask = np.sqrt((idx**2).sum(axis=0)) < 12
    return to_world(marching_cubes_mask(mask), np.diag([1.0, 1.2, 0.9, 1.0]))


@pytest.mark.parametrize(
    ("suffix", "writer"), [("stl", write_stl), ("obj", write_obj), ("ply", write_ply)]
)
def test_open3d_reads_back_the_same_triangles(
    mesh: Mesh, tmp_path: Path, suffix: str, writer
) -> None:
    path = tmp_path / f"ball.{suffix}"
    writer(mesh, path)
    back = o3d.io.read_triangle_mesh(str(path))
    assert len(back.triangles) == mesh.n_triangles
    back_area = back.get_surface_area()
    assert back_area == pytest.approx(mesh.area(), rel=1e-4)
    # Every triangle comes back with the same corners, in order (readers may renumber vertices).
    corners = np.asarray(back.vertices)[np.asarray(back.triangles)]
    np.testing.assert_allclose(corners, mesh.vertices[mesh.faces], atol=1e-3)


def test_binary_stl_layout_and_coordinate_note(mesh: Mesh, tmp_path: Path) -> None:
    path = tmp_path / "ball.stl"
    write_stl(mesh, path)
    raw = path.read_bytes()
    assert raw[:80].startswith(b"SPACE=RAS")
    (count,) = struct.unpack("<I", raw[80:84])
    assert count == mesh.n_triangles
    assert len(raw) == 84 + 50 * count


def test_glb_is_valid_gltf_with_the_mesh_and_a_y_up_node(mesh: Mesh, tmp_path: Path) -> None:
    path = tmp_path / "ball.glb"
    write_glb(mesh, path, "ball", (0.9, 0.7, 0.7))
    raw = path.read_bytes()
    magic, version, length = struct.unpack("<4sII", raw[:12])
    assert (magic, version, length) == (b"glTF", 2, len(raw))
    json_len, json_type = struct.unpack("<I4s", raw[12:20])
    assert json_type == b"JSON" and json_len % 4 == 0
    gltf = json.loads(raw[20 : 20 + json_len])
    bin_len, bin_type = struct.unpack("<I4s", raw[20 + json_len : 28 + json_len])
    assert bin_type == b"BIN\x00" and bin_len % 4 == 0
    binary = raw[28 + json_len : 28 + json_len + bin_len]
    positions, _, indices = gltf["accessors"]
    assert positions["count"] == len(mesh.vertices)
    assert indices["count"] == 3 * mesh.n_triangles
    view = gltf["bufferViews"][0]
    xyz = np.frombuffer(binary, "<f4", 3 * positions["count"], view["byteOffset"]).reshape(-1, 3)
    np.testing.assert_allclose(xyz, mesh.vertices, atol=1e-4)
    np.testing.assert_allclose(positions["min"], mesh.vertices.min(axis=0), atol=1e-4)
    matrix = np.array(gltf["nodes"][0]["matrix"]).reshape(4, 4).T  # glTF is column-major
    assert matrix.tolist() == np.array(GLTF_NODE_MATRIX).reshape(4, 4).T.tolist()
    assert np.linalg.det(matrix[:3, :3]) > 0  # a rotation: triangles keep their winding
    superior = matrix[:3, :3] @ np.array([0.0, 0.0, 1.0])
    np.testing.assert_allclose(superior, [0.0, 0.001, 0.0])  # head's top is glTF's up
    back = o3d.io.read_triangle_mesh(str(path))
    assert len(back.triangles) == mesh.n_triangles


def test_our_glb_and_stl_read_back_as_the_same_indexed_mesh(mesh: Mesh, tmp_path: Path) -> None:
    """What a re-make reuses: GLB gives the mesh as written; STL is welded back into it."""
    write_glb(mesh, tmp_path / "ball.glb", "ball", (1.0, 1.0, 1.0))
    write_stl(mesh, tmp_path / "ball.stl")
    glb = read_mesh(tmp_path / "ball.glb")
    assert np.array_equal(glb.faces, mesh.faces)
    assert np.allclose(glb.vertices, mesh.vertices, atol=1e-4)
    stl = read_mesh(tmp_path / "ball.stl")
    assert stl.n_triangles == mesh.n_triangles and len(stl.vertices) == len(mesh.vertices)
    assert np.allclose(stl.vertices[stl.faces], mesh.vertices[mesh.faces], atol=1e-4)
    assert check_mesh(stl).ok


@pytest.mark.parametrize("name", ["ball.glb", "ball.stl", "ball.obj"])
def test_a_file_we_did_not_write_is_refused(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(b"glTF" + bytes(100))
    with pytest.raises(MeshFileError):
        read_mesh(tmp_path / name)
