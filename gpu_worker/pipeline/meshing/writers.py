"""Mesh file writers: binary STL, OBJ, binary PLY and GLB (glTF 2.0), numpy only.

STL, OBJ and PLY hold world coordinates in mm, RAS+ (x right, y anterior, z superior), and say so
in their header the way 3D Slicer reads it (``SPACE=RAS``). GLB follows glTF: y up, metres; the
vertex data stays in RAS mm and the scene node carries the rotation and the mm -> m scale.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from gpu_worker.pipeline.meshing.surface import Mesh

_HEADER_NOTE = "SPACE=RAS units=mm mrimesh"

#: glTF node matrix (column-major): RAS mm -> glTF (x = left of the subject seen from the front,
#: y = superior, z = anterior), metres. A proper rotation (det +1) times 0.001.
GLTF_NODE_MATRIX = [
    -0.001, 0.0, 0.0, 0.0,
    0.0, 0.0, 0.001, 0.0,
    0.0, 0.001, 0.0, 0.0,
    0.0, 0.0, 0.0, 1.0,
]  # fmt: skip


def write_stl(mesh: Mesh, path: Path) -> None:
    """Binary STL with one facet normal per triangle."""
    record = np.dtype([("normal", "<f4", 3), ("vertices", "<f4", (3, 3)), ("attr", "<u2")])
    data = np.zeros(len(mesh.faces), dtype=record)
    data["normal"] = mesh.face_normals()
    data["vertices"] = mesh.vertices[mesh.faces]
    # NUL-padded: ADMesh prints the header as a C string and would run on into the data.
    header = _HEADER_NOTE.encode("ascii").ljust(80, b"\0")
    with open(path, "wb") as f:
        f.write(header)
        f.write(struct.pack("<I", len(data)))
        f.write(data.tobytes())


def write_obj(mesh: Mesh, path: Path) -> None:
    """Wavefront OBJ: vertices and faces (1-based, counter-clockwise seen from outside); readers
    derive smooth normals from the winding, which keeps the text file small and quick to write."""
    v = mesh.vertices.astype(np.float64).ravel().tolist()
    f = (mesh.faces.astype(np.int64) + 1).ravel().tolist()
    with open(path, "w", encoding="ascii") as out:
        out.write(f"# {_HEADER_NOTE}\n")
        out.write(("v %.4f %.4f %.4f\n" * len(mesh.vertices)) % tuple(v))
        out.write(("f %d %d %d\n" * len(mesh.faces)) % tuple(f))


def write_ply(mesh: Mesh, path: Path) -> None:
    """Binary little-endian PLY with vertex normals."""
    vert = np.dtype([("p", "<f4", 3), ("n", "<f4", 3)])
    vertices = np.empty(len(mesh.vertices), dtype=vert)
    vertices["p"] = mesh.vertices
    vertices["n"] = mesh.vertex_normals()
    face = np.dtype([("count", "u1"), ("index", "<i4", 3)])
    faces = np.empty(len(mesh.faces), dtype=face)
    faces["count"] = 3
    faces["index"] = mesh.faces
    header = (
        "ply\nformat binary_little_endian 1.0\n"
        f"comment {_HEADER_NOTE}\n"
        f"element vertex {len(vertices)}\n"
        "property float x\nproperty float y\nproperty float z\n"
        "property float nx\nproperty float ny\nproperty float nz\n"
        f"element face {len(faces)}\n"
        "property list uchar int vertex_indices\nend_header\n"
    )
    with open(path, "wb") as f:
        f.write(header.encode("ascii"))
        f.write(vertices.tobytes())
        f.write(faces.tobytes())


def _pad4(data: bytes, fill: bytes) -> bytes:
    return data + fill * (-len(data) % 4)


def write_glb(mesh: Mesh, path: Path, name: str, color: tuple[float, float, float]) -> None:
    """Binary glTF 2.0: one mesh, positions + normals + uint32 indices, one PBR material."""
    positions = np.ascontiguousarray(mesh.vertices, dtype="<f4")
    normals = np.ascontiguousarray(mesh.vertex_normals(), dtype="<f4")
    indices = np.ascontiguousarray(mesh.faces, dtype="<u4")
    chunks = [positions.tobytes(), normals.tobytes(), indices.tobytes()]
    offsets = np.cumsum([0] + [len(c) for c in chunks]).tolist()
    binary = b"".join(chunks)
    n_vertices = len(positions)
    gltf = {
        "asset": {"version": "2.0", "generator": "mrimesh"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"name": name, "mesh": 0, "matrix": GLTF_NODE_MATRIX}],
        "meshes": [
            {
                "name": name,
                "primitives": [
                    {
                        "attributes": {"POSITION": 0, "NORMAL": 1},
                        "indices": 2,
                        "material": 0,
                        "mode": 4,
                    }
                ],
            }
        ],
        "materials": [
            {
                "name": name,
                "pbrMetallicRoughness": {
                    "baseColorFactor": [*color, 1.0],
                    "metallicFactor": 0.0,
                    "roughnessFactor": 0.6,
                },
            }
        ],
        "buffers": [{"byteLength": len(binary)}],
        "bufferViews": [
            {"buffer": 0, "byteOffset": offsets[0], "byteLength": len(chunks[0]), "target": 34962},
            {"buffer": 0, "byteOffset": offsets[1], "byteLength": len(chunks[1]), "target": 34962},
            {"buffer": 0, "byteOffset": offsets[2], "byteLength": len(chunks[2]), "target": 34963},
        ],
        "accessors": [
            {
                "bufferView": 0,
                "componentType": 5126,
                "count": n_vertices,
                "type": "VEC3",
                "min": positions.min(axis=0).tolist(),
                "max": positions.max(axis=0).tolist(),
            },
            {"bufferView": 1, "componentType": 5126, "count": n_vertices, "type": "VEC3"},
            {"bufferView": 2, "componentType": 5125, "count": int(indices.size), "type": "SCALAR"},
        ],
    }
    json_chunk = _pad4(json.dumps(gltf, separators=(",", ":")).encode("utf-8"), b" ")
    bin_chunk = _pad4(binary, b"\x00")
    total = 12 + 8 + len(json_chunk) + 8 + len(bin_chunk)
    with open(path, "wb") as f:
        f.write(struct.pack("<4sII", b"glTF", 2, total))
        f.write(struct.pack("<I4s", len(json_chunk), b"JSON"))
        f.write(json_chunk)
        f.write(struct.pack("<I4s", len(bin_chunk), b"BIN\x00"))
        f.write(bin_chunk)


#: Display colour of each known structure in GLB files (linear RGB); others get grey.
COLORS: dict[str, tuple[float, float, float]] = {
    "brain": (0.93, 0.72, 0.70),
    "white_matter": (0.95, 0.95, 0.90),
    "ventricles": (0.35, 0.55, 0.90),
    "grey_matter": (0.70, 0.55, 0.55),
    "csf": (0.55, 0.75, 0.95),
    "left_hemisphere": (0.93, 0.62, 0.55),
    "right_hemisphere": (0.62, 0.72, 0.93),
}


def write_mesh(mesh: Mesh, out_dir: Path, name: str, fmt: str) -> str:
    """Write structure ``name``'s mesh as ``<name>.<fmt>`` in ``out_dir``; returns the file name."""
    path = out_dir / f"{name}.{fmt}"
    if fmt == "stl":
        write_stl(mesh, path)
    elif fmt == "obj":
        write_obj(mesh, path)
    elif fmt == "ply":
        write_ply(mesh, path)
    elif fmt == "glb":
        write_glb(mesh, path, name, COLORS.get(name, (0.8, 0.8, 0.8)))
    else:
        raise ValueError(f"unknown mesh format {fmt!r}")
    return path.name
