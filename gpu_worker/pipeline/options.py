"""What a caller may choose per job."""

from __future__ import annotations

from dataclasses import dataclass

from gpu_worker.pipeline.defaults import (
    DEFAULT_FORMATS,
    DEFAULT_SMOOTHING_ITERATIONS,
    DEFAULT_TARGET_TRIANGLES,
    DEFAULT_WORK_SPACING_MM,
    SUPPORTED_FORMATS,
)
from mrimesh.print_options import PrintOptions

DECIMATION_METHODS = ("fast_simplification", "open3d")
ISO_SURFACE_METHODS = ("flying_edges", "scikit_image")


@dataclass(frozen=True)
class PipelineOptions:
    """Per-job choices; every field has a sensible default."""

    #: mesh formats to write, any of "stl", "obj", "ply", "glb", "3mf" (default: STL, GLB, 3MF)
    formats: tuple[str, ...] = DEFAULT_FORMATS
    #: largest triangle count of each structure's mesh
    target_triangles: int = DEFAULT_TARGET_TRIANGLES
    #: Taubin smoothing iterations; 0 keeps the raw marching-cubes surface
    smoothing_iterations: int = DEFAULT_SMOOTHING_ITERATIONS
    #: structures to mesh (e.g. ("brain", "left_hemisphere")); None meshes all the model defines
    structures: tuple[str, ...] | None = None
    #: wall thickness of hollow pieces at print size, in mm; 0 prints them solid
    hollow_mm: float = 0.0
    #: print size in percent of life size (None: life size, or ``longest_side_mm``)
    scale_percent: float | None = None
    #: longest side of all pieces together at print size, in mm
    longest_side_mm: float | None = None
    #: torch device ("auto", "cpu", "cuda", "cuda:1"); None uses Settings.device
    device: str | None = None
    #: isotropic voxel edge the volume is segmented and meshed at, in mm
    work_spacing_mm: float = DEFAULT_WORK_SPACING_MM
    #: decimation library: "fast_simplification" (default, faster) or "open3d"
    decimation: str = "fast_simplification"
    #: marching-cubes implementation: "flying_edges" (VTK, default, faster) or "scikit_image"
    iso_surface: str = "flying_edges"

    def __post_init__(self) -> None:
        formats = tuple(f.lower().lstrip(".") for f in self.formats)
        unknown = sorted(set(formats) - set(SUPPORTED_FORMATS))
        if unknown or not formats:
            raise ValueError(f"formats must be among {SUPPORTED_FORMATS}, got {self.formats}")
        object.__setattr__(self, "formats", tuple(dict.fromkeys(formats)))
        if self.target_triangles < 100:
            raise ValueError("target_triangles must be at least 100")
        if self.smoothing_iterations < 0:
            raise ValueError("smoothing_iterations must be >= 0")
        if not 0.25 <= self.work_spacing_mm <= 4.0:
            raise ValueError("work_spacing_mm must be between 0.25 and 4 mm")
        if self.decimation not in DECIMATION_METHODS:
            raise ValueError(f"decimation must be one of {DECIMATION_METHODS}")
        if self.iso_surface not in ISO_SURFACE_METHODS:
            raise ValueError(f"iso_surface must be one of {ISO_SURFACE_METHODS}")
        if self.structures is not None:
            object.__setattr__(self, "structures", tuple(self.structures))
        # The same ranges and messages as the API's (InvalidOption is a ValueError).
        PrintOptions(
            hollow_mm=self.hollow_mm,
            scale_percent=self.scale_percent,
            longest_side_mm=self.longest_side_mm,
        )

    @classmethod
    def from_print(cls, options: PrintOptions, **pipeline: object) -> PipelineOptions:
        """The pipeline's options for validated print options (plus pipeline-only choices)."""
        return cls(
            formats=options.formats,
            target_triangles=options.target_triangles,
            smoothing_iterations=options.smoothing,
            structures=options.structures,
            hollow_mm=options.hollow_mm,
            scale_percent=options.scale_percent,
            longest_side_mm=options.longest_side_mm,
            **pipeline,  # type: ignore[arg-type]
        )

    def print_summary(self) -> dict[str, object]:
        """The print options as report.json records them (a re-make starts from these)."""
        return {
            "structures": list(self.structures) if self.structures is not None else None,
            "formats": list(self.formats),
            "hollow_mm": self.hollow_mm,
            "scale_percent": self.scale_percent,
            "longest_side_mm": self.longest_side_mm,
            "smoothing": self.smoothing_iterations,
            "target_triangles": self.target_triangles,
        }
