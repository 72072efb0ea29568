"""The early refusal of a re-make's walls, from what the earlier job measured of each piece."""

from __future__ import annotations

import pytest

from mrimesh.print_options import PrintOptions
from mrimesh.wall_fit import remake_wall_refusal, wall_too_thick


def _piece(name: str, limit: float | None, size: float = 150.0, scale: float = 1.0) -> dict:
    meshed = {"scale": scale} if limit is None else {"scale": scale, "wall_limit_mm": limit}
    return {"name": name, "print_size_mm": [size * scale, 100.0 * scale, 90.0], "meshed_as": meshed}


EARLIER = {"structures": [_piece("brain", 14.0), _piece("ventricles", 3.0, size=60.0)]}


@pytest.mark.parametrize(
    ("asked", "refused"),
    [
        ({"structures": ("ventricles",), "hollow_mm": 0}, False),  # solid
        ({"structures": ("ventricles",), "hollow_mm": 2.9}, False),
        ({"structures": ("ventricles",), "hollow_mm": 3.1}, True),
        ({"structures": ("ventricles",), "hollow_mm": 5, "scale_percent": 200}, False),
        ({"structures": ("ventricles",), "hollow_mm": 2, "scale_percent": 50}, True),
        ({"structures": ("brain", "ventricles"), "hollow_mm": 10}, False),  # the brain fits it
        ({"structures": ("left_hemisphere",), "hollow_mm": 15}, True),  # inside the brain
        ({"structures": ("left_hemisphere",), "hollow_mm": 13}, False),
        ({"structures": ("white_matter",), "hollow_mm": 20}, False),  # unmeasured: the job decides
        # 120 mm for pieces at least 150 mm long at life size: at most 80 %
        ({"structures": ("brain",), "hollow_mm": 11.3, "longest_side_mm": 120}, True),
        ({"structures": ("brain",), "hollow_mm": 11.1, "longest_side_mm": 120}, False),
    ],
)
def test_a_remake_is_refused_only_when_no_chosen_piece_can_hold_the_wall(asked, refused) -> None:
    reason = remake_wall_refusal(PrintOptions(**asked), EARLIER)
    assert (reason is not None) is refused, reason
    if refused:
        assert f"hollow_mm {asked['hollow_mm']:g}" in reason and "at most" in reason


def test_an_earlier_job_without_measurements_is_left_to_the_job() -> None:
    old = {"structures": [_piece("brain", None)]}
    assert remake_wall_refusal(PrintOptions(structures=("brain",), hollow_mm=20), old) is None
    assert remake_wall_refusal(PrintOptions(structures=("brain",), hollow_mm=20), None) is None


def test_the_message_names_the_option_the_wall_and_what_fits() -> None:
    message = wall_too_thick(5, 2.345)
    assert message.startswith("hollow_mm 5 is thicker") and "at most 2.3 mm" in message
