"""The one progress hook the pipeline knows: ``report_step(step, fraction)``.

The pipeline calls :func:`report_step`; whoever runs it decides what a report means. The command
line draws a bar, the Dramatiq middleware writes the job record to Redis. The hook lives in a
:class:`~contextvars.ContextVar` (the shape of Dramatiq's ``CurrentMessage``), so concurrent worker
threads never see each other's reporter, and this module imports nothing heavy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

logger = logging.getLogger(__name__)

#: A reporter receives the user-facing step name and the fraction of that step done (0..1).
Reporter = Callable[[str, float], None]

_reporter: ContextVar[Reporter | None] = ContextVar("mrimesh_progress_reporter", default=None)


class Cancelled(Exception):  # noqa: N818 - reads as the event, like Dramatiq's names
    """Raised by a reporter to stop the pipeline at a step boundary."""


def report_step(step: str, fraction: float = 0.0) -> None:
    """Tell whoever is listening that ``step`` is ``fraction`` (0..1) done.

    A reporter's own failure is logged and swallowed, so progress can never fail a job, except
    :class:`Cancelled`, which a reporter raises on purpose to stop the pipeline.
    """
    reporter = _reporter.get()
    if reporter is None:
        return
    fraction = min(max(float(fraction), 0.0), 1.0)
    try:
        reporter(step, fraction)
    except Cancelled:
        raise
    except Exception:
        logger.exception("progress reporter failed for step %r", step)


@contextmanager
def reporting_to(reporter: Reporter | None) -> Iterator[None]:
    """Route :func:`report_step` calls made inside the block to ``reporter``."""
    token = _reporter.set(reporter)
    try:
        yield
    finally:
        _reporter.reset(token)


def set_reporter(reporter: Reporter | None) -> object:
    """Install ``reporter`` for the current context; returns a token for :func:`reset_reporter`."""
    return _reporter.set(reporter)


def reset_reporter(token: object) -> None:
    """Undo a :func:`set_reporter`."""
    _reporter.reset(token)  # type: ignore[arg-type]
