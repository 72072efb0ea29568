"""3MF: every printed piece as its own object with its own colour, in one file, written with
lib3mf (the 3MF Consortium's reference library, pinned in requirements/worker.txt).

Each piece is a mesh object with a base material (name and display colour) from one material
group, so a multi-material printer's slicer can give each its own filament. Units are mm, at the
print size, in the scanner's RAS+ frame like the STL files.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gpu_worker.pipeline.meshing.surface import Mesh


@dataclass(frozen=True)
class ColouredMesh:
    """One object of a 3MF file."""

    name: str  #: shown in the slicer's object list
    mesh: Mesh
    color: tuple[float, float, float]  #: linear RGB, 0..1


def _set_geometry(lib3mf: object, mesh_object: object, mesh: Mesh) -> None:
    """``MeshObject.SetGeometry`` from numpy buffers.

    lib3mf's own wrapper builds one ctypes structure per vertex and triangle from Python tuples
    (about 3 s for a 200,000-triangle brain); the C call takes the same memory layout that numpy
    arrays of float32 x 3 and uint32 x 3 have, so those are passed directly.
    """
    vertices = np.ascontiguousarray(mesh.vertices, dtype=np.float32)
    faces = np.ascontiguousarray(mesh.faces, dtype=np.uint32)
    n_v, n_f = len(vertices), len(faces)
    positions = (lib3mf.Position * n_v).from_buffer(vertices)
    triangles = (lib3mf.Triangle * n_f).from_buffer(faces)
    wrapper = mesh_object._wrapper
    wrapper.checkError(
        mesh_object,
        wrapper.lib.lib3mf_meshobject_setgeometry(
            mesh_object._handle, ctypes.c_uint64(n_v), positions, ctypes.c_uint64(n_f), triangles
        ),
    )


def write_3mf(pieces: Sequence[ColouredMesh], path: Path) -> str:
    """Write ``pieces`` as one 3MF file at ``path``; returns the file name."""
    import lib3mf

    wrapper = lib3mf.get_wrapper()
    model = wrapper.CreateModel()
    model.SetUnit(lib3mf.ModelUnit.MilliMeter)
    model.GetMetaDataGroup().AddMetaData("", "Application", "mrimesh", "string", False)
    materials = model.AddBaseMaterialGroup()
    for piece in pieces:
        r, g, b = (round(min(max(c, 0.0), 1.0) * 255) for c in piece.color)
        material = materials.AddMaterial(piece.name, wrapper.RGBAToColor(r, g, b, 255))
        mesh_object = model.AddMeshObject()
        mesh_object.SetName(piece.name)
        _set_geometry(lib3mf, mesh_object, piece.mesh)
        mesh_object.SetObjectLevelProperty(materials.GetUniqueResourceID(), material)
        model.AddBuildItem(mesh_object, wrapper.GetIdentityTransform())
    tmp = path.with_name(f".{path.name}.tmp")
    writer = model.QueryWriter("3mf")
    writer.SetDecimalPrecision(4)  # 0.1 µm: far below any printer's resolution
    writer.WriteToFile(str(tmp))
    tmp.replace(path)
    return path.name


def read_3mf(path: Path) -> list[tuple[str, Mesh, tuple[int, int, int]]]:
    """Each object of a 3MF file: its name, mesh and display colour (for tests)."""
    import lib3mf

    wrapper = lib3mf.get_wrapper()
    model = wrapper.CreateModel()
    model.QueryReader("3mf").ReadFromFile(str(path))
    out = []
    objects = model.GetMeshObjects()
    while objects.MoveNext():
        obj = objects.GetCurrentMeshObject()
        vertices = np.array([list(v.Coordinates) for v in obj.GetVertices()], dtype=np.float64)
        faces = np.array([list(t.Indices) for t in obj.GetTriangleIndices()], dtype=np.int64)
        resource, prop, has = obj.GetObjectLevelProperty()
        color = (0, 0, 0)
        if has:
            group = model.GetBaseMaterialGroupByID(resource)
            c = group.GetDisplayColor(prop)
            color = (c.Red, c.Green, c.Blue)
        out.append((obj.GetName(), Mesh(vertices, faces), color))
    return out
