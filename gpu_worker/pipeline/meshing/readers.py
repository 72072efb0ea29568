"""Read back the mesh files :mod:`.writers` wrote (a re-make reuses an earlier job's meshes).

GLB keeps the indexed mesh as it was written; binary STL stores each triangle's corners, so its
vertices are welded again (corners with the same coordinates become one vertex).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from gpu_worker.pipeline.meshing.surface import Mesh

_GLB_MAGIC = b"glTF"
_STL_RECORD = np.dtype([("normal", "<f4", 3), ("vertices", "<f4", (3, 3)), ("attr", "<u2")])


class MeshFileError(ValueError):
    """A mesh file that is not what :mod:`.writers` writes."""


def read_glb(path: Path) -> Mesh:
    """The mesh of a GLB written by :func:`~.writers.write_glb` (vertices in RAS mm)."""
    data = Path(path).read_bytes()
    if len(data) < 20 or data[:4] != _GLB_MAGIC:
        raise MeshFileError(f"{path.name} is not a GLB file")
    json_length, json_type = struct.unpack_from("<I4s", data, 12)
    if json_type != b"JSON":
        raise MeshFileError(f"{path.name} has no JSON chunk first")
    gltf = json.loads(data[20 : 20 + json_length])
    bin_start = 20 + json_length + 8
    try:
        primitive = gltf["meshes"][0]["primitives"][0]
        positions = _accessor(gltf, primitive["attributes"]["POSITION"], data, bin_start, "<f4")
        indices = _accessor(gltf, primitive["indices"], data, bin_start, "<u4")
    except (KeyError, IndexError, TypeError) as e:
        raise MeshFileError(f"{path.name} is not laid out as mrimesh writes GLB") from e
    faces = indices.reshape(-1, 3).astype(np.int64)
    if len(faces) and faces.max() >= len(positions):
        raise MeshFileError(f"{path.name} has indices past its vertices")
    return Mesh(positions.reshape(-1, 3).astype(np.float64), faces)


def _accessor(gltf: dict, index: int, data: bytes, bin_start: int, dtype: str) -> np.ndarray:
    accessor = gltf["accessors"][index]
    view = gltf["bufferViews"][accessor["bufferView"]]
    components = 3 if accessor["type"] == "VEC3" else 1
    count = int(accessor["count"]) * components
    offset = bin_start + int(view.get("byteOffset", 0)) + int(accessor.get("byteOffset", 0))
    if offset + count * 4 > len(data):
        raise MeshFileError("a GLB accessor runs past the end of the file")
    return np.frombuffer(data, dtype=dtype, count=count, offset=offset)


def read_stl(path: Path) -> Mesh:
    """The mesh of a binary STL, its triangles' corners welded into shared vertices."""
    size = Path(path).stat().st_size
    with open(path, "rb") as f:
        header = f.read(84)
    if len(header) < 84:
        raise MeshFileError(f"{Path(path).name} is too short for a binary STL")
    (count,) = struct.unpack_from("<I", header, 80)
    if size != 84 + count * _STL_RECORD.itemsize:
        raise MeshFileError(f"{Path(path).name} is not a binary STL of {count} triangles")
    records = np.fromfile(path, dtype=_STL_RECORD, count=count, offset=84)
    corners = np.ascontiguousarray(records["vertices"].reshape(-1, 3))
    vertices, inverse = np.unique(corners, axis=0, return_inverse=True)
    return Mesh(vertices.astype(np.float64), inverse.reshape(-1, 3).astype(np.int64))


def read_mesh(path: Path) -> Mesh:
    """A GLB or binary STL written by :mod:`.writers`."""
    suffix = Path(path).suffix.lower()
    if suffix == ".glb":
        return read_glb(path)
    if suffix == ".stl":
        return read_stl(path)
    raise MeshFileError(f"cannot read {Path(path).name}: only GLB and STL are read back")


__all__ = ["MeshFileError", "read_glb", "read_mesh", "read_stl"]
