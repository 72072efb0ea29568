"""The brain's midline (mid-sagittal) plane, found from the scan itself, in world mm.

The plane is the one about which the brain looks most like its own mirror image. The label map
(tissue classes: CSF, grey matter, white matter, ventricles) is turned into a smooth intensity
image; points inside the brain are reflected about a candidate plane and the image compared at
each point and its reflection. The score is minimised over the plane's normal (two angles) and
offset, starting from the scanner's sagittal plane through the brain's centroid, so a head
tilted or turned in the scanner still gets its own midline. Everything is in world coordinates,
so the same head stored in any voxel orientation gives the same plane.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage, optimize

#: Gaussian blur of the tissue image before comparing, in mm (a smooth score to minimise).
DEFAULT_BLUR_MM = 2.0
#: Points compared per evaluation in the coarse search and in the refinement.
DEFAULT_COARSE_POINTS = 4_000
DEFAULT_FINE_POINTS = 20_000
#: Angles tried in the coarse search, in degrees either way of the scanner's sagittal plane.
DEFAULT_SEARCH_DEGREES = 20.0
DEFAULT_SEARCH_STEP_DEGREES = 5.0
#: Intensity given to each tissue label (0 background, 1 CSF, 2 grey, 3 white, 4 ventricles).
TISSUE_INTENSITY = np.array([0.0, 1.0, 2.0, 3.0, 1.0], dtype=np.float32)


@dataclass(frozen=True)
class Plane:
    """The points x with ``normal · x == offset_mm`` (world mm). ``normal`` is a unit vector
    close to world +x, the subject's right in RAS+: right of the plane is the positive side."""

    normal: tuple[float, float, float]
    offset_mm: float

    def distance(self, points: np.ndarray) -> np.ndarray:
        """Signed distance of world points (N, 3) to the plane, in mm (+ on the normal's side)."""
        return points @ np.asarray(self.normal) - self.offset_mm

    def to_dict(self) -> dict[str, object]:
        """For report.json."""
        return {"normal": [round(v, 6) for v in self.normal], "offset_mm": round(self.offset_mm, 3)}

    @classmethod
    def from_dict(cls, data: dict) -> Plane:
        """Read :meth:`to_dict`'s output."""
        normal = np.asarray(data["normal"], dtype=np.float64)
        normal /= np.linalg.norm(normal)
        return cls(tuple(float(v) for v in normal), float(data["offset_mm"]))


def _normal(yaw: float, roll: float) -> np.ndarray:
    """World +x turned by ``yaw`` about z (superior) and ``roll`` about y (anterior), radians."""
    return np.array([np.cos(yaw) * np.cos(roll), np.sin(yaw) * np.cos(roll), np.sin(roll)])


def tissue_image(labels: np.ndarray, spacing_mm: float) -> np.ndarray:
    """A smooth intensity image from a tissue label map (other label values count as tissue)."""
    lookup = np.zeros(256, dtype=np.float32)
    lookup[: len(TISSUE_INTENSITY)] = TISSUE_INTENSITY
    lookup[len(TISSUE_INTENSITY) :] = 2.0
    image = lookup[labels]
    return ndimage.gaussian_filter(image, DEFAULT_BLUR_MM / spacing_mm, truncate=3.0)


def find_midline(labels: np.ndarray, affine: np.ndarray, brain: np.ndarray | None = None) -> Plane:
    """The mid-sagittal plane of the brain in ``labels`` (voxel -> world mm by ``affine``).

    ``brain`` is the brain mask (default: every non-zero label).
    """
    if brain is None:
        brain = labels > 0
    spacing = float(np.cbrt(abs(np.linalg.det(affine[:3, :3]))))
    # The score compares an image blurred at DEFAULT_BLUR_MM: a grid that fine is enough, and
    # an eighth of the voxels (1 mm labels) to blur and to pick points from.
    step = max(1, int(DEFAULT_BLUR_MM / spacing + 1e-6))
    if step > 1:
        labels, brain = labels[::step, ::step, ::step], brain[::step, ::step, ::step]
        affine = affine.copy()
        affine[:3, :3] *= step
        spacing *= step
    image = tissue_image(labels, spacing).astype(np.float32)
    inverse = np.linalg.inv(affine)
    voxels = np.argwhere(brain)
    if len(voxels) < 100:
        raise ValueError("too little brain to find its midline")
    rng = np.random.default_rng(0)  # the same points every time: the same plane every time
    world = voxels @ affine[:3, :3].T + affine[:3, 3]
    centroid = world.mean(axis=0)
    values = image[tuple(voxels.T)]

    def sample(count: int) -> tuple[np.ndarray, np.ndarray]:
        pick = rng.choice(len(world), size=min(count, len(world)), replace=False)
        return world[pick], values[pick]

    def score(params: np.ndarray, points: np.ndarray, own: np.ndarray) -> float:
        normal = _normal(params[0], params[1])
        offset = float(normal @ centroid) + params[2]
        mirror = np.eye(4)  # world reflection about the plane, then back to voxels
        mirror[:3, :3] -= 2.0 * np.outer(normal, normal)
        mirror[:3, 3] = 2.0 * offset * normal
        to_voxel = inverse @ mirror
        index = points @ to_voxel[:3, :3].T + to_voxel[:3, 3]
        other = ndimage.map_coordinates(image, index.T, order=1, mode="constant", cval=0.0)
        return float(np.mean((other - own) ** 2))

    coarse = sample(DEFAULT_COARSE_POINTS)
    angles = np.deg2rad(
        np.arange(
            -DEFAULT_SEARCH_DEGREES, DEFAULT_SEARCH_DEGREES + 1e-9, DEFAULT_SEARCH_STEP_DEGREES
        )
    )
    best = min(
        ((yaw, roll, 0.0) for yaw in angles for roll in angles),
        key=lambda p: score(np.asarray(p), *coarse),
    )
    fine = sample(DEFAULT_FINE_POINTS)
    step = np.deg2rad(DEFAULT_SEARCH_STEP_DEGREES) / 2
    result = optimize.minimize(
        score,
        np.asarray(best),
        args=fine,
        method="Nelder-Mead",
        options={
            "initial_simplex": np.asarray(best)
            + np.array([[0, 0, 0], [step, 0, 0], [0, step, 0], [0, 0, 2.0]]),
            "xatol": 1e-3,
            "fatol": 1e-8,
            "maxiter": 200,
        },
    )
    normal = _normal(result.x[0], result.x[1])
    offset = float(normal @ centroid) + float(result.x[2])
    return Plane(tuple(float(v) for v in normal), offset)
