"""Time-remaining arithmetic: pure functions over estimates, no Redis.

* A running job's remaining time is the rest of its current step plus the steps after it, every
  estimate scaled by how fast this job has actually been going so far (a busy machine runs slow).
* A queued job's ETA comes from list-scheduling the jobs ahead of it onto the live workers: each
  worker becomes free when its current job ends, the next waiting job takes the earliest free
  worker, and our job starts when its turn comes.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence

from mrimesh.contract import STEP_IDS

#: This job's measured speed relative to the estimate is clamped to this range.
SPEED_FACTOR_RANGE = (0.5, 3.0)
#: Completed steps must have been expected to take at least this long (s) to judge the speed...
MIN_SECONDS_TO_JUDGE_SPEED = 0.5
#: ...and at least this share of the whole job: the first steps are short and depend on the input
#: more than on the machine (a scan that needs no resampling prepares 4× faster than one that
#: does), so judging from them alone shrank every queued ETA by half (bench/eta_accuracy.py).
MIN_SHARE_TO_JUDGE_SPEED = 0.2
#: Within a step, progress fractions above this start to outweigh the prior estimate.
MIN_FRACTION_TO_EXTRAPOLATE = 0.05


def speed_factor(estimates: Mapping[str, float], completed: Mapping[str, float]) -> float:
    """Actual ÷ expected time over the steps this job has finished (1.0 until those steps are
    a large enough part of the job to tell)."""
    expected = sum(estimates.get(step, 0.0) for step in completed)
    whole = sum(estimates.values())
    if expected < max(MIN_SECONDS_TO_JUDGE_SPEED, MIN_SHARE_TO_JUDGE_SPEED * whole):
        return 1.0
    low, high = SPEED_FACTOR_RANGE
    return min(max(sum(completed.values()) / expected, low), high)


def running_remaining_seconds(
    estimates: Mapping[str, float],
    current_step: str | None,
    step_fraction: float,
    step_elapsed: float,
    completed: Mapping[str, float],
) -> float:
    """Seconds a running job still needs: rest of the current step plus all later steps."""
    factor = speed_factor(estimates, completed)
    if current_step not in STEP_IDS:
        return sum(estimates.get(s, 0.0) for s in STEP_IDS if s not in completed) * factor
    index = STEP_IDS.index(current_step)
    expected_current = estimates.get(current_step, 0.0) * factor
    by_estimate = max(expected_current - step_elapsed, 0.0)
    fraction = min(max(step_fraction, 0.0), 1.0)
    if fraction > MIN_FRACTION_TO_EXTRAPOLATE and step_elapsed > 0:
        by_rate = step_elapsed * (1.0 - fraction) / fraction
        current_left = fraction * by_rate + (1.0 - fraction) * by_estimate
    else:
        current_left = by_estimate
    later = sum(estimates.get(step, 0.0) for step in STEP_IDS[index + 1 :]) * factor
    return current_left + later


def queued_eta_seconds(
    own_seconds: float,
    ahead_seconds: Sequence[float],
    running_left_seconds: Sequence[float],
    live_workers: int,
) -> float | None:
    """Seconds until a waiting job finishes; ``None`` while no worker is alive."""
    if live_workers <= 0:
        return None
    workers = max(live_workers, len(running_left_seconds))
    free_at = sorted(running_left_seconds) + [0.0] * (workers - len(running_left_seconds))
    heapq.heapify(free_at)
    for seconds in ahead_seconds:
        heapq.heappush(free_at, heapq.heappop(free_at) + seconds)
    return heapq.heappop(free_at) + own_seconds


def progress_percent(
    estimates: Mapping[str, float], current_step: str, step_fraction: float
) -> float:
    """Share of the job's expected time already behind it, 0..100."""
    total = sum(estimates.get(step, 0.0) for step in STEP_IDS)
    if total <= 0 or current_step not in STEP_IDS:
        return 0.0
    index = STEP_IDS.index(current_step)
    done = sum(estimates.get(step, 0.0) for step in STEP_IDS[:index])
    done += estimates.get(current_step, 0.0) * min(max(step_fraction, 0.0), 1.0)
    return 100.0 * done / total
