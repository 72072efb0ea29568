"""The step clock: one context manager declares, times and reports each step."""

from __future__ import annotations

import time

import pytest

from gpu_worker.progress import Cancelled, report_fraction, report_step, reporting_to, step


def test_a_step_block_reports_its_start_and_end_and_times_itself() -> None:
    calls: list[tuple[str, float]] = []
    with reporting_to(lambda s, f: calls.append((s, f))) as clock:
        with step("segmenting"):
            time.sleep(0.05)
            report_fraction(0.5)  # step code never names its step
            assert clock.current == "segmenting"
            assert clock.started_at == pytest.approx(time.time(), abs=1.0)
        with step("meshing"):
            pass
    assert calls == [("segmenting", 0.0), ("segmenting", 0.5), ("segmenting", 1.0),
                     ("meshing", 0.0), ("meshing", 1.0)]  # fmt: skip
    assert 0.05 <= clock.seconds["segmenting"] < 1.0
    assert list(clock.seconds) == ["segmenting", "meshing"]
    assert clock.current is None


def test_a_step_run_twice_adds_up_and_a_failed_step_is_timed_but_not_finished() -> None:
    calls: list[tuple[str, float]] = []
    with reporting_to(lambda s, f: calls.append((s, f))) as clock:
        for _ in range(2):
            with step("loading"):
                time.sleep(0.02)
        with pytest.raises(RuntimeError), step("preparing"):
            raise RuntimeError("out of memory")
    assert clock.seconds["loading"] >= 0.04
    assert "preparing" in clock.seconds
    assert ("preparing", 1.0) not in calls


def test_a_broken_reporter_never_fails_the_pipeline_but_a_cancellation_stops_it() -> None:
    def broken(step_id: str, fraction: float) -> None:
        raise ValueError("Redis hiccup")

    with reporting_to(broken) as clock, step("loading"):
        pass
    assert "loading" in clock.seconds

    def cancel(step_id: str, fraction: float) -> None:
        if step_id == "segmenting":
            raise Cancelled

    ran = []
    with reporting_to(cancel), pytest.raises(Cancelled):
        with step("preparing"):
            ran.append("preparing")
        with step("segmenting"):
            ran.append("segmenting")
    assert ran == ["preparing"]


def test_without_a_clock_steps_and_reports_are_silent() -> None:
    with step("loading"):
        report_step("loading", 0.5)


def test_a_fraction_outside_any_step_block_reports_nothing() -> None:
    calls: list[tuple[str, float]] = []
    with reporting_to(lambda s, f: calls.append((s, f))) as clock:
        report_fraction(0.3)
    report_fraction(0.3)  # no clock installed at all
    assert calls == []
    assert clock.seconds == {}
