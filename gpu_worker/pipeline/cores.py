"""How many CPU cores this process may use (no heavy imports: meshing helpers use it too)."""

from __future__ import annotations

import os


def cpu_cores() -> int:
    """Cores this process may run on (its affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
