"""Reuse an earlier job's meshes in a re-make, when the new options would mesh them the same way.

A piece's outer surface depends on its labels, the meshing parameters and (for a hemisphere)
the cut; not on the wall thickness or the print size. report.json records, for each piece, how
it was meshed (``meshed_as``: :func:`~.pieces.surface_key`, the cavity's depth and the scale of
its files). A re-make whose piece has the same key reads the earlier piece's page file (GLB,
else STL), scales it back to life size and splits off its cavities: a change of size, formats or
wall then costs a rescale and a write, not a meshing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from gpu_worker.pipeline.meshing.pieces import PieceJob, Reused, same_key, surface_key
from gpu_worker.pipeline.meshing.readers import MeshFileError, read_mesh
from gpu_worker.pipeline.meshing.surface import Mesh, compact, component_volumes

logger = logging.getLogger(__name__)

#: Formats read back, in order of preference (GLB keeps the indexed mesh; STL must be welded).
REUSABLE_FORMATS = ("glb", "stl")


def reusable_files(report: dict) -> list[tuple[str, ...]]:
    """For each piece of an earlier ``report`` that says how it was meshed, the names of its
    page files a re-make could read, in order of preference (the first that exists is enough)."""
    return [
        tuple(f"{piece['name']}.{fmt}" for fmt in REUSABLE_FORMATS)
        for piece in report.get("structures", [])
        if piece.get("meshed_as")
    ]


def split_cavities(mesh: Mesh) -> tuple[Mesh, Mesh | None]:
    """The outer surface (pieces enclosing positive volume) and the cavities (wound inward)."""
    labels, volumes = component_volumes(mesh)
    inward = volumes[labels] < 0
    if not inward.any():
        return mesh, None
    outer = compact(Mesh(mesh.vertices, mesh.faces[~inward]))
    return outer, compact(Mesh(mesh.vertices, mesh.faces[inward]))


def earlier_pieces(folder: Path, report: dict) -> Callable[[PieceJob], Reused | None]:
    """A lookup for :func:`~.printing.build_pieces`: the surfaces of the piece ``job`` would make,
    from the earlier job whose report is ``report`` and whose page files are in ``folder``, when
    it meshed them the same way; else None."""
    entries = {p["name"]: p for p in report.get("structures", []) if p.get("meshed_as")}

    def lookup(job: PieceJob) -> Reused | None:
        entry = entries.get(job.name)
        if entry is None:
            return None
        meshed = entry["meshed_as"]
        if not same_key(meshed.get("surface"), surface_key(job)):
            return None
        scale = float(meshed.get("scale") or 0.0)
        candidates = (folder / f"{job.name}.{fmt}" for fmt in REUSABLE_FORMATS)
        path = next((p for p in candidates if p.is_file()), None)
        if path is None or scale <= 0:
            return None
        try:
            mesh = read_mesh(path)
        except (MeshFileError, OSError, ValueError) as e:
            logger.warning("cannot reuse %s (%s); meshing it again", path.name, e)
            return None
        level = float(meshed.get("cavity_level_mm") or 0.0)
        life_size = Mesh(mesh.vertices / scale, mesh.faces)
        outer, cavity = split_cavities(life_size) if level > 0 else (life_size, None)
        return Reused(
            outer=outer,
            cavity=cavity,
            cavity_level_mm=level,
            max_depth_mm=float(meshed.get("max_depth_mm") or 0.0),
            depth_tolerance_mm=float(meshed.get("depth_tolerance_mm") or 0.0),
        )

    return lookup


__all__ = ["REUSABLE_FORMATS", "earlier_pieces", "reusable_files", "split_cavities"]
