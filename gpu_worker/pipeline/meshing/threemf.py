"""3MF: every printed piece as its own object with its own colour, in one file, written with
lib3mf (the 3MF Consortium's reference library, pinned in requirements/worker.txt).

Each piece is a mesh object with a base material (name and display colour) from one material
group, so a multi-material printer's slicer can give each its own filament. Units are mm, at the
print size; the mesh data is in the scanner's RAS+ frame like the STL files, and each object's
build item places it on the print bed: side by side along x, resting on z = 0, a hemisphere
lying on its flat cut face (no supports under the cut).
"""

from __future__ import annotations

import ctypes
import locale
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
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
    #: world direction that should face down on the bed (a hemisphere's cut face), or None
    down: tuple[float, float, float] | None = None


#: Space between neighbouring objects on the bed, in mm.
BED_GAP_MM = 5.0


def _rotation_down(down: tuple[float, float, float] | None) -> np.ndarray:
    """The rotation taking ``down`` to -z (identity for None)."""
    if down is None:
        return np.eye(3)
    a = np.asarray(down, dtype=np.float64)
    a /= np.linalg.norm(a)
    b = np.array([0.0, 0.0, -1.0])
    v, c = np.cross(a, b), float(a @ b)
    if np.linalg.norm(v) < 1e-12:
        return np.eye(3) if c > 0 else np.diag([1.0, -1.0, -1.0])
    k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + k + k @ k / (1 + c)


def bed_layout(pieces: Sequence[ColouredMesh]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each piece's placement on the bed: rotation (3, 3) and translation (3,), p' = R p + t."""
    placements, x = [], 0.0
    for piece in pieces:
        rotation = _rotation_down(piece.down)
        turned = piece.mesh.vertices @ rotation.T
        lo, hi = turned.min(axis=0), turned.max(axis=0)
        shift = np.array([x - lo[0], -(lo[1] + hi[1]) / 2, -lo[2]])
        placements.append((rotation, shift))
        x += float(hi[0] - lo[0]) + BED_GAP_MM
    centre = x - BED_GAP_MM
    return [(r, t - np.array([centre / 2, 0.0, 0.0])) for r, t in placements]


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


@contextmanager
def _keeping_locale() -> Iterator[None]:
    """Put the process's locale back after lib3mf, which sets it to "C" (every category): left
    so, Python's default text encoding turns to ASCII for the rest of the process."""
    saved = locale.setlocale(locale.LC_ALL)
    try:
        yield
    finally:
        locale.setlocale(locale.LC_ALL, saved)


def write_3mf(pieces: Sequence[ColouredMesh], path: Path) -> str:
    """Write ``pieces`` as one 3MF file at ``path``; returns the file name."""
    with _keeping_locale():
        return _write_3mf(pieces, path)


def _write_3mf(pieces: Sequence[ColouredMesh], path: Path) -> str:
    import lib3mf

    wrapper = lib3mf.get_wrapper()
    model = wrapper.CreateModel()
    model.SetUnit(lib3mf.ModelUnit.MilliMeter)
    model.GetMetaDataGroup().AddMetaData("", "Application", "mrimesh", "string", False)
    materials = model.AddBaseMaterialGroup()
    for piece, (rotation, shift) in zip(pieces, bed_layout(pieces), strict=True):
        r, g, b = (round(min(max(c, 0.0), 1.0) * 255) for c in piece.color)
        material = materials.AddMaterial(piece.name, wrapper.RGBAToColor(r, g, b, 255))
        mesh_object = model.AddMeshObject()
        mesh_object.SetName(piece.name)
        _set_geometry(lib3mf, mesh_object, piece.mesh)
        mesh_object.SetObjectLevelProperty(materials.GetUniqueResourceID(), material)
        transform = wrapper.GetIdentityTransform()
        for i in range(3):  # 3MF transforms act on row vectors: p' = p M, last row the shift
            for j in range(3):
                transform.Fields[i][j] = float(rotation[j, i])
            transform.Fields[3][i] = float(shift[i])
        model.AddBuildItem(mesh_object, transform)
    tmp = path.with_name(f".{path.name}.tmp")
    writer = model.QueryWriter("3mf")
    writer.SetDecimalPrecision(4)  # 0.1 µm: far below any printer's resolution
    writer.WriteToFile(str(tmp))
    tmp.replace(path)
    return path.name


@dataclass(frozen=True)
class ReadObject:
    """One object of a 3MF file as read back (for tests)."""

    name: str
    mesh: Mesh  #: the object's own coordinates
    color: tuple[int, int, int]  #: display colour, 0..255
    rotation: np.ndarray  #: its build item's placement: p' = rotation @ p + shift
    shift: np.ndarray


def read_3mf(path: Path) -> list[ReadObject]:
    """Every build item of a 3MF file with its object's mesh, colour and placement."""
    with _keeping_locale():
        return _read_3mf(path)


def _read_3mf(path: Path) -> list[ReadObject]:
    import lib3mf

    wrapper = lib3mf.get_wrapper()
    model = wrapper.CreateModel()
    model.QueryReader("3mf").ReadFromFile(str(path))
    out = []
    items = model.GetBuildItems()
    while items.MoveNext():
        item = items.GetCurrent()
        obj = model.GetMeshObjectByID(item.GetObjectResourceID())
        vertices = np.array([list(v.Coordinates) for v in obj.GetVertices()], dtype=np.float64)
        faces = np.array([list(t.Indices) for t in obj.GetTriangleIndices()], dtype=np.int64)
        resource, prop, has = obj.GetObjectLevelProperty()
        color = (0, 0, 0)
        if has:
            c = model.GetBaseMaterialGroupByID(resource).GetDisplayColor(prop)
            color = (c.Red, c.Green, c.Blue)
        fields = np.array([list(row) for row in item.GetObjectTransform().Fields])
        out.append(ReadObject(obj.GetName(), Mesh(vertices, faces), color, fields[:3].T, fields[3]))
    return out
