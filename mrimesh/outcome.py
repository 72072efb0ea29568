"""What one successful attempt hands from the actor to the middleware: a typed outcome."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class JobOutcome:
    """A finished attempt's result, as the actor returns it.

    The steps' seconds are not here: the middleware's step clock measured them.
    """

    #: voxels of the input scan, for the timing history (size-scaled estimates)
    voxels: int
    #: the report's fields shown in ``/status``'s ``result`` (structures, input, model, ...)
    summary: Mapping[str, Any] = field(default_factory=dict)
