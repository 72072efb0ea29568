"""The pipeline's one clock: ``with step(Step.X):`` times a step and reports it.

A step is declared once, where it runs::

    with step(Step.SEGMENTING):
        seg = segment(prepared, segmenter)  # may call report_fraction(0.4)

The block reports the step at 0 when it starts and at 1 when it ends, and adds its wall-clock
seconds to the running :class:`StepClock`. Inside, :func:`report_fraction` tells how far the step
has come. Whoever runs the pipeline installs the clock with a reporter and decides what a report
means: the command line draws a bar, the Dramatiq middleware writes the job record to Redis,
reading the same clock for the step's start time and the finished steps' seconds (there is no
second clock).

The clock lives in a :class:`~contextvars.ContextVar` (the shape of Dramatiq's ``CurrentMessage``),
so concurrent worker threads never see each other's, and this module imports nothing heavy.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

logger = logging.getLogger(__name__)

#: A reporter receives the step id (:class:`mrimesh.contract.Step`) and the fraction done (0..1).
Reporter = Callable[[str, float], None]


class Cancelled(Exception):  # noqa: N818 - reads as the event, like Dramatiq's names
    """Raised by a reporter to stop the pipeline at a step boundary."""


class StepClock:
    """Which step runs, since when, and how long each finished step took (seconds by step id).

    A step entered twice (a rerun on the CPU) accumulates. Reports to ``reporter``; its failures
    are logged and swallowed, so progress can never fail a job, except :class:`Cancelled`, which a
    reporter raises on purpose to stop the pipeline.
    """

    def __init__(self, reporter: Reporter | None = None) -> None:
        self.reporter = reporter
        #: id of the step running now, or ``None`` between steps
        self.current: str | None = None
        #: epoch seconds when the current step started (what ``/status`` compares with now)
        self.started_at: float = 0.0
        #: seconds of each finished step, by id
        self.seconds: dict[str, float] = {}
        self._perf_start = 0.0

    def begin(self, step: str) -> None:
        """Start timing ``step``, ending the step before it."""
        self.end()
        self.current = str(step)
        self.started_at = time.time()
        self._perf_start = time.perf_counter()

    def end(self) -> None:
        """Stop timing the current step and add its seconds."""
        if self.current is None:
            return
        elapsed = time.perf_counter() - self._perf_start
        self.seconds[self.current] = round(self.seconds.get(self.current, 0.0) + elapsed, 3)
        self.current = None

    def report(self, step: str, fraction: float) -> None:
        """``step`` is ``fraction`` done; a step not running yet begins now."""
        if step != self.current:
            self.begin(step)
        if self.reporter is None:
            return
        fraction = min(max(float(fraction), 0.0), 1.0)
        try:
            self.reporter(str(step), fraction)
        except Cancelled:
            raise
        except Exception:
            logger.exception("progress reporter failed for step %r", step)

    @contextmanager
    def step(self, step: str) -> Iterator[None]:
        """Time and report the block as ``step``."""
        try:
            self.report(step, 0.0)
            yield
            self.report(step, 1.0)
        finally:
            self.end()


_clock: ContextVar[StepClock | None] = ContextVar("mrimesh_step_clock", default=None)


def current_clock() -> StepClock | None:
    """The clock installed for this context, if any."""
    return _clock.get()


@contextmanager
def step(step_id: str) -> Iterator[None]:
    """Declare, time and report one step (a no-op without an installed clock)."""
    clock = _clock.get()
    if clock is None:
        yield
        return
    with clock.step(step_id):
        yield


def report_fraction(fraction: float) -> None:
    """Tell whoever is listening how far the running step (``with step(...)``) has come (0..1).

    Step code never names its step: the ``with step(...)`` around it is the one declaration.
    """
    clock = _clock.get()
    if clock is not None and clock.current is not None:
        clock.report(clock.current, fraction)


def report_step(step_id: str, fraction: float = 0.0) -> None:
    """Tell whoever is listening that ``step_id`` is ``fraction`` (0..1) done."""
    clock = _clock.get()
    if clock is not None:
        clock.report(step_id, fraction)


@contextmanager
def reporting_to(reporter: Reporter | None) -> Iterator[StepClock]:
    """Install a fresh clock reporting to ``reporter`` for the block; yields it."""
    clock = StepClock(reporter)
    token = _clock.set(clock)
    try:
        yield clock
    finally:
        _clock.reset(token)


@contextmanager
def clocked() -> Iterator[StepClock]:
    """The installed clock, or a fresh silent one for the block (a pipeline run alone)."""
    clock = _clock.get()
    if clock is not None:
        yield clock
        return
    with reporting_to(None) as fresh:
        yield fresh


def install_clock(clock: StepClock) -> object:
    """Install ``clock`` for the current context; returns a token for :func:`uninstall_clock`."""
    return _clock.set(clock)


def uninstall_clock(token: object) -> None:
    """Undo an :func:`install_clock`."""
    _clock.reset(token)  # type: ignore[arg-type]
