"""Whether a hollow wall fits inside the chosen pieces: the refusal the job makes, and the same
refusal made early, when a re-make is asked for, from what the earlier job measured.

Every piece's report entry says (``meshed_as.wall_limit_mm``) the thickest wall, at life size,
that leaves a cavity inside it: exact for a piece that was hollowed, an upper bound for a solid
one (measured on a coarse grid). A re-make is refused at once only when the asked-for wall is
thicker than that bound for every chosen piece, at the largest scale the request could mean;
any closer case is left to the job, which measures exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mrimesh.print_options import PrintOptions

_HEMISPHERES = ("left_hemisphere", "right_hemisphere")


def wall_too_thick(hollow_mm: float, thickest_mm: float) -> str:
    """The message refusing a wall of ``hollow_mm`` where at most ``thickest_mm`` fits (both at
    print size)."""
    return (
        f"hollow_mm {hollow_mm:g} is thicker than the chosen pieces allow: at this size their "
        f"walls can be at most {thickest_mm:.1f} mm. Choose a thinner wall, a larger print or "
        "solid pieces (hollow_mm 0)."
    )


def _entry(pieces: Mapping[str, Mapping[str, Any]], name: str) -> Mapping[str, Any] | None:
    """The earlier piece whose limits bound ``name``'s (a hemisphere lies inside the brain)."""
    if name in pieces:
        return pieces[name]
    if name in _HEMISPHERES:
        return pieces.get("brain")
    return None


def _largest_scale(options: PrintOptions, pieces: Mapping[str, Mapping[str, Any]]) -> float | None:
    """The largest print scale ``options`` can mean for these pieces (None: not known)."""
    if options.longest_side_mm is None:
        return (options.scale_percent or 100.0) / 100.0
    # The chosen pieces together are at least as long as the longest of them at life size.
    longest = 0.0
    for name in options.structures:
        entry = pieces.get(name) or {}
        scale = float((entry.get("meshed_as") or {}).get("scale") or 0.0)
        if scale > 0 and entry.get("print_size_mm"):
            longest = max(longest, max(entry["print_size_mm"]) / scale)
    return options.longest_side_mm / longest if longest > 0 else None


def remake_wall_refusal(options: PrintOptions, earlier: Mapping[str, Any] | None) -> str | None:
    """Why a re-make with ``options`` of the job whose result summary is ``earlier`` cannot be
    hollowed as asked, or None when it may be (the job then decides exactly)."""
    if options.hollow_mm <= 0 or not earlier:
        return None
    pieces = {p["name"]: p for p in earlier.get("structures") or [] if "name" in p}
    limits = []
    for name in options.structures:
        entry = _entry(pieces, name)
        limit = ((entry or {}).get("meshed_as") or {}).get("wall_limit_mm")
        if limit is None:
            return None
        limits.append(float(limit))
    scale = _largest_scale(options, pieces)
    if scale is None or not limits:
        return None
    thickest = max(limits) * scale
    return wall_too_thick(options.hollow_mm, thickest) if options.hollow_mm > thickest else None


__all__ = ["remake_wall_refusal", "wall_too_thick"]
