"""Every tunable of the imaging pipeline, with its unit, in one place."""

from __future__ import annotations

from mrimesh import limits, print_options

# --- Loading -------------------------------------------------------------------------------------
# Shape, size and data-type limits are in mrimesh.limits: the API's upload gate uses them too.
#: Smallest field of view a whole-brain scan can have along every axis, in mm.
DEFAULT_MIN_FOV_MM = 60.0
#: Largest plausible voxel edge, in mm.
DEFAULT_MAX_VOXEL_MM = 10.0
#: Below this neighbour-to-neighbour intensity correlation a volume is noise, not an image.
DEFAULT_MIN_NEIGHBOUR_CORRELATION = 0.5

# --- Segmenting and cleaning up ------------------------------------------------------------------
#: Smallest brain (inside the brain mask) taken as a brain, in mL; a newborn's is about 400.
DEFAULT_MIN_BRAIN_ML = 250.0
#: Largest brain taken as a brain, in mL (adult intracranial volumes stay below about 2,000).
DEFAULT_MAX_BRAIN_ML = 3000.0
#: White matter's share of grey + white matter outside which the tissue classes are flagged as
#: unreliable in the report (unitless). T1-weighted adult scans give 0.35-0.50 (0.42 on MNI152
#: and on the real 2 mm T1 of ../shared/data); a FLAIR gave 0.10, a 3.4 mm ASL series 0.85.
DEFAULT_WHITE_MATTER_SHARE_RANGE = (0.25, 0.60)

# --- DICOM zip archives --------------------------------------------------------------------------
#: Most bytes a DICOM zip may expand to, in bytes (4 GiB).
DEFAULT_ZIP_MAX_UNCOMPRESSED_BYTES = limits.MAX_ZIP_UNCOMPRESSED_BYTES
#: Wall-clock limit for one dcm2niix run, in seconds.
DEFAULT_DCM2NIIX_TIMEOUT_SECONDS = 300

# --- Preparing -----------------------------------------------------------------------------------
#: Edge of the isotropic voxels the pipeline segments and meshes on, in mm.
DEFAULT_WORK_SPACING_MM = 1.0
#: A volume whose voxel edges are all within this fraction of the working spacing is not resampled.
DEFAULT_SPACING_TOLERANCE = 0.05
#: Intensity percentiles mapped to 0 and 1 before segmentation.
DEFAULT_INTENSITY_PERCENTILES = (0.5, 99.5)
#: Most voxels used to estimate intensity percentiles (a regular subsample beyond that).
DEFAULT_PERCENTILE_SAMPLE_VOXELS = 2_000_000

# --- Meshing -------------------------------------------------------------------------------------
#: Largest triangle count of one exported structure.
DEFAULT_TARGET_TRIANGLES = 200_000
#: Taubin smoothing iterations (each is one shrink and one inflate pass); 0 disables smoothing.
DEFAULT_SMOOTHING_ITERATIONS = 10
#: Gaussian blur of a structure's mask before marching cubes, in voxels (0 disables).
DEFAULT_MASK_SIGMA_VOXELS = 0.5
#: fast-simplification's ``agg`` (aggressiveness, unitless, its default 7): the error threshold
#: grows as (iteration + 3) ** agg, so 9 reaches the target in fewer passes. Measured on the MNI
#: brain: 0.37 s instead of 0.57 s, mean distance to the smoothed surface 0.206 mm (0.210 at 7).
DEFAULT_DECIMATION_AGGRESSIVENESS = 9.0
#: Smallest part of a structure kept as its own closed surface, in mL.
DEFAULT_MIN_COMPONENT_ML = 1.0

# --- Exporting -----------------------------------------------------------------------------------
# Formats written when none are asked for, and every format the exporter writes: the print
# options' (mrimesh.print_options), which the API validates against too.
DEFAULT_FORMATS = print_options.DEFAULT_FORMATS
SUPPORTED_FORMATS = print_options.FORMATS
