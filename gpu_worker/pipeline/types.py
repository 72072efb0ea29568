"""The pipeline's data types: what one step hands to the next.

Plain dataclasses over numpy arrays (and, for :class:`Prepared`, a torch tensor that only the
type checker sees here), so any step, a meshing helper included, imports them without pulling in
torch, MONAI or nibabel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from gpu_worker.pipeline.defaults import (
    DEFAULT_MASK_SIGMA_VOXELS,
    DEFAULT_MIN_COMPONENT_ML,
    DEFAULT_SMOOTHING_ITERATIONS,
    DEFAULT_TARGET_TRIANGLES,
)

if TYPE_CHECKING:
    import nibabel as nib
    import torch


@dataclass(frozen=True)
class StructureSpec:
    """One mesh to build: the union of ``labels``, optionally reduced to its largest piece and
    with enclosed cavities filled."""

    name: str
    labels: tuple[int, ...]
    keep_largest: bool = True
    fill_holes: bool = True


@dataclass
class Scan:
    """One 3D volume in its own voxel grid: ``affine`` maps voxel indices to world mm (RAS+)."""

    data: np.ndarray  #: (X, Y, Z) float32
    affine: np.ndarray  #: (4, 4) float64
    header: nib.Nifti1Header  #: template for files written in the input's space, already scrubbed
    info: dict[str, object] = field(default_factory=dict)  #: the report's "input" section


@dataclass
class Prepared:
    """The volume as the segmenter sees it."""

    image: torch.Tensor  #: (X, Y, Z) float32 on the device, robust range mapped to 0..1
    affine: np.ndarray  #: (4, 4) working-grid voxel -> world mm
    resampled: bool  #: whether the voxels were resampled to the working spacing

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Working voxel edge lengths, in mm."""
        return tuple(float(z) for z in np.linalg.norm(self.affine[:3, :3], axis=0))  # type: ignore[return-value]


@dataclass
class Segmentation:
    """A label map in the working grid and what its labels mean."""

    labels: np.ndarray  #: (X, Y, Z) uint8, working grid
    affine: np.ndarray  #: working-grid voxel -> world mm
    names: dict[int, str]  #: label value -> name
    structures: tuple[StructureSpec, ...]  #: meshes the bundle asks for
    postprocess: str  #: "brain_tissue" or "per_label"
    inference_seconds: float = 0.0  #: time inside the segmenter (networks and tissue model)
    #: the segmenter's own breakdown of that time, e.g. networks vs tissue model
    inference_parts: dict[str, float] = field(default_factory=dict)
    #: remarks for the person who uploaded the scan (report.json "notes", shown on the page)
    notes: tuple[str, ...] = ()

    @property
    def voxel_ml(self) -> float:
        """Volume of one voxel, in mL."""
        return abs(float(np.linalg.det(self.affine[:3, :3]))) / 1000.0


@dataclass(frozen=True)
class MeshParams:
    """How meshes are made."""

    target_triangles: int = DEFAULT_TARGET_TRIANGLES
    smoothing_iterations: int = DEFAULT_SMOOTHING_ITERATIONS
    sigma_voxels: float = DEFAULT_MASK_SIGMA_VOXELS
    min_component_ml: float = DEFAULT_MIN_COMPONENT_ML
    decimation: str = "fast_simplification"
    iso_surface: str = "flying_edges"


@dataclass(frozen=True)
class MeshQuality:
    """What a 3D printer slicer checks before it accepts a mesh."""

    watertight: bool  #: every edge is shared by exactly two faces
    edge_manifold: bool  #: no edge is shared by more than two faces
    vertex_manifold: bool  #: the faces around every vertex form one fan
    oriented: bool  #: neighbouring faces agree on winding (each edge is used once each way)
    outward: bool  #: the enclosed volume is positive, so normals point out
    components: int  #: connected pieces
    degenerate_faces: int  #: faces with a repeated vertex or zero area
    euler: int  #: V - E + F; 2 per closed genus-0 piece

    @property
    def ok(self) -> bool:
        """True when a slicer will accept the mesh without repair."""
        return (
            self.watertight
            and self.edge_manifold
            and self.vertex_manifold
            and self.oriented
            and self.outward
            and self.degenerate_faces == 0
        )


@dataclass(frozen=True)
class StructureResult:
    """A meshed structure as the report describes it; the mesh itself is in its files."""

    spec: StructureSpec
    volume_ml: float  #: from the label map's voxels
    triangles: int
    vertices: int
    surface_area_mm2: float
    hull_area_ratio: float | None  #: 1 for a smooth blob, well above 1 with sulci
    quality: MeshQuality
    files: dict[str, str]  #: format -> file name in the output folder
    seconds: float  #: meshing and writing, in the helper
