"""Rolling timing history of finished jobs, and the per-step estimates derived from it.

Each completed job leaves one record: its total duration, its duration per step and its input
size in voxels. Estimates for a new job use per-step rolling **medians** of the nearest-sized jobs,
scaled by input size with an exponent fitted on the history, so a 512³ scan is not timed like a
256³ one and one slow outlier does not move the estimate.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from mrimesh.contract import STEP_IDS, step_id

#: How many of the nearest-sized past jobs feed a median.
DEFAULT_NEIGHBOURS = 5
#: Size exponent used until the history spans enough sizes to fit one. Job time barely grows
#: with input voxels here (the networks work on fixed grids, the meshes follow the brain's size):
#: fitted on five real scans of 0.1-8.7 million voxels (bench/README.md) the whole job's exponent
#: is 0.06, Loading 0.46, Segmenting 0.04, meshing 0.13. 0.2 keeps a first job's ETA within 1.6x
#: for a 10x larger or smaller scan, without timing an operator's bundle that scales more
#: (sliding-window inference) as if size did not matter; the history soon fits its own.
DEFAULT_SIZE_EXPONENT = 0.2
#: Fitted size exponents are clamped to this range.
SIZE_EXPONENT_RANGE = (0.0, 1.5)
#: Sizes must span at least this ratio before an exponent is fitted.
MIN_SIZE_SPREAD = 1.3


@dataclass(frozen=True)
class JobTiming:
    """What one finished job teaches about speed."""

    total_seconds: float
    voxels: int
    steps: Mapping[str, float] = field(default_factory=dict)
    #: how long the worker sat idle between its previous job and this one while this job was
    #: already waiting (message fetch latency); ``None`` when the worker had nothing to do
    start_gap_seconds: float | None = None

    def to_json(self) -> str:
        """Serialise for the ``timings:jobs`` list."""
        return json.dumps(
            {
                "total": round(self.total_seconds, 3),
                "voxels": self.voxels,
                "steps": {k: round(v, 3) for k, v in self.steps.items()},
                "start_gap": self.start_gap_seconds,
            }
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> JobTiming | None:
        """Parse one list entry (steps keyed by id; labels of older records read as ids);
        ``None`` for a malformed one."""
        try:
            data = json.loads(raw)
            return cls(
                total_seconds=float(data["total"]),
                voxels=max(int(data.get("voxels") or 1), 1),
                steps={step_id(str(k)): float(v) for k, v in (data.get("steps") or {}).items()},
                start_gap_seconds=data.get("start_gap"),
            )
        except (ValueError, TypeError, KeyError):
            return None


class TimingModel:
    """Per-step duration estimates from a rolling history of finished jobs."""

    def __init__(self, history: Iterable[JobTiming], neighbours: int = DEFAULT_NEIGHBOURS):
        self.history = [h for h in history if h.total_seconds > 0]
        self.neighbours = neighbours
        self._exponents = {step: self._fit_exponent(step) for step in STEP_IDS}

    @property
    def has_history(self) -> bool:
        """True once at least one job has finished."""
        return bool(self.history)

    def step_estimates(self, voxels: int | None) -> dict[str, float] | None:
        """Expected seconds per step for an input of ``voxels``; ``None`` without history."""
        if not self.history:
            return None
        target = max(int(voxels or self._typical_voxels()), 1)
        nearest = sorted(self.history, key=lambda h: abs(math.log(h.voxels / target)))
        nearest = nearest[: self.neighbours]
        estimates: dict[str, float] = {}
        for step in STEP_IDS:
            exponent = self._exponents[step]
            scaled = [
                h.steps[step] * (target / h.voxels) ** exponent for h in nearest if step in h.steps
            ]
            estimates[step] = statistics.median(scaled) if scaled else 0.0
        return estimates

    def total_estimate(self, voxels: int | None) -> float | None:
        """Expected seconds for a whole job of ``voxels``; ``None`` without history."""
        steps = self.step_estimates(voxels)
        return None if steps is None else sum(steps.values())

    @property
    def slot_overhead(self) -> float:
        """Seconds a job occupies a worker beyond its steps: time outside any step plus the
        worker's idle gap before taking the next waiting job (medians; 0 without history)."""
        outside = [max(h.total_seconds - sum(h.steps.values()), 0.0) for h in self.history]
        gaps = [h.start_gap_seconds for h in self.history if h.start_gap_seconds is not None]
        return (statistics.median(outside) if outside else 0.0) + (
            statistics.median(gaps) if gaps else 0.0
        )

    def _typical_voxels(self) -> int:
        return int(statistics.median(h.voxels for h in self.history))

    def _fit_exponent(self, step: str) -> float:
        """Least-squares slope of log(duration) on log(voxels) for one step."""
        points = [
            (math.log(h.voxels), math.log(h.steps[step]))
            for h in self.history
            if h.steps.get(step, 0) > 0
        ]
        if len(points) < 3:
            return DEFAULT_SIZE_EXPONENT
        xs = [p[0] for p in points]
        if max(xs) - min(xs) < math.log(MIN_SIZE_SPREAD):
            return DEFAULT_SIZE_EXPONENT
        mean_x = statistics.fmean(xs)
        mean_y = statistics.fmean(p[1] for p in points)
        var_x = sum((x - mean_x) ** 2 for x in xs)
        cov = sum((x - mean_x) * (y - mean_y) for x, y in points)
        low, high = SIZE_EXPONENT_RANGE
        return min(max(cov / var_x, low), high)
