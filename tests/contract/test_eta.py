"""The ETA model: rolling per-step medians scaled by input size, and queue list-scheduling."""

from __future__ import annotations

import pytest

from mrimesh.contract import STEP_IDS as ALL_STEP_IDS
from mrimesh.eta import progress_percent, queued_eta_seconds, running_remaining_seconds
from mrimesh.timings import JobTiming, TimingModel

#: A scan's steps: every step but the re-make's loading_labels.
STEP_IDS = tuple(s for s in ALL_STEP_IDS if s != "loading_labels")

SEG, MESH = "segmenting", "meshing"


def _timing(total_scale: float, voxels: int) -> JobTiming:
    steps = {name: 1.0 * total_scale for name in STEP_IDS}
    return JobTiming(total_seconds=sum(steps.values()), voxels=voxels, steps=steps)


def test_eta_calculation() -> None:
    """Given mock timing data, the ETA is the rest of this step plus the later steps."""
    # Given five finished jobs of one size whose steps took 1 s each (one slow outlier)
    history = [_timing(1.0, 1_000_000) for _ in range(4)] + [_timing(30.0, 1_000_000)]
    model = TimingModel(history)
    estimates = model.step_estimates(1_000_000)

    # then the median ignores the outlier: 7 steps × 1 s
    assert model.total_estimate(1_000_000) == pytest.approx(7.0)
    # when a job is 40 % through "Segmenting" (3rd of 7 steps) after 0.4 s in that step
    remaining = running_remaining_seconds(
        estimates, SEG, 0.4, 0.4, completed={"loading": 1.0, "preparing": 1.0}
    )
    # then 0.6 s of this step and 4 later steps remain
    assert remaining == pytest.approx(4.6)
    # and the progress bar sits at the same share of expected time
    assert progress_percent(estimates, SEG, 0.4) == pytest.approx(100 * 2.4 / 7)


def test_without_history_there_is_no_eta() -> None:
    model = TimingModel([])
    assert model.step_estimates(1000) is None
    assert model.total_estimate(1000) is None


def test_bigger_inputs_take_proportionally_longer() -> None:
    small = [_timing(1.0, 1_000_000) for _ in range(3)]
    large = [_timing(8.0, 8_000_000) for _ in range(3)]
    model = TimingModel(small + large)
    # the fitted exponent is 1 (8× the voxels took 8× the time), so 4M voxels → 4 s per step
    assert model.total_estimate(4_000_000) == pytest.approx(28.0, rel=0.01)
    assert model.total_estimate(1_000_000) == pytest.approx(7.0, rel=0.01)


def test_with_one_job_of_history_a_different_size_is_not_timed_in_proportion() -> None:
    # Given one finished 2 mm head (0.7 M voxels, 6 s) and no spread of sizes to fit
    model = TimingModel([_timing(6.0 / 7, 700_000)])
    # then a 1 mm scan of 8.7 M voxels (measured: about as long) is not expected to take 12×
    assert 6.0 < model.total_estimate(8_700_000) < 1.7 * 6.0
    # nor a 0.1 M voxel series a seventh of the time
    assert 0.6 * 6.0 < model.total_estimate(100_000) < 6.0


def test_a_slow_running_job_stretches_its_own_estimate() -> None:
    estimates = dict.fromkeys(STEP_IDS, 1.0)
    # the first two steps took twice as long as expected
    remaining = running_remaining_seconds(
        estimates, SEG, 0.0, 0.0, completed={"loading": 2.0, "preparing": 2.0}
    )
    assert remaining == pytest.approx(2 * 5.0)


def test_short_first_steps_do_not_decide_the_speed_of_the_whole_job() -> None:
    # Given history where Loading and Preparing are a small part of a 10 s job
    estimates = dict.fromkeys(STEP_IDS, 0.3) | {SEG: 5.0, MESH: 3.8}
    # when this job's first two steps ran four times faster (no resampling was needed)
    remaining = running_remaining_seconds(
        estimates, SEG, 0.0, 0.0, completed={"loading": 0.075, "preparing": 0.075}
    )
    # then the rest is still expected to take as long as usual, not half of it or less
    assert remaining == pytest.approx(sum(estimates.values()) - 0.6)


def test_queued_eta_schedules_the_jobs_ahead_on_the_live_workers() -> None:
    # two workers busy for 10 s and 20 s; three 30 s jobs ahead; our job takes 30 s
    eta = queued_eta_seconds(30.0, [30.0, 30.0, 30.0], [10.0, 20.0], live_workers=2)
    # w1: 10 → 40 → 70 ; w2: 20 → 50 ; ours starts at 50 (w2) and ends at 80
    assert eta == pytest.approx(80.0)


def test_queued_eta_is_unknown_without_workers() -> None:
    assert queued_eta_seconds(30.0, [], [], live_workers=0) is None


def test_idle_worker_starts_the_next_job_at_once() -> None:
    assert queued_eta_seconds(12.0, [], [], live_workers=1) == pytest.approx(12.0)


def test_queue_slots_include_time_outside_steps_and_the_gap_between_jobs() -> None:
    steps = dict.fromkeys(STEP_IDS, 1.0)  # 7 s of steps
    history = [
        JobTiming(total_seconds=7.2, voxels=1000, steps=steps, start_gap_seconds=0.5)
        for _ in range(3)
    ]
    model = TimingModel(history)
    assert model.slot_overhead == pytest.approx(0.2 + 0.5)
    assert TimingModel([]).slot_overhead == 0.0
