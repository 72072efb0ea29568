"""What a person may choose about the printed pieces: one dataclass and one validator, shared by
the API's upload form, the re-make JSON body, the worker and the command line.

Torch-free and numpy-free: the API imports it. Every refusal is an :class:`InvalidOption` naming
the option and its allowed values, which the API answers as a 422 (``invalid_option``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

#: Error code of a refused option (the registry's ``invalid_option``).
INVALID_OPTION = "invalid_option"

#: Every structure a job can print, in the order files and reports list them.
STRUCTURES = ("brain", "left_hemisphere", "right_hemisphere", "white_matter", "ventricles")
#: The words people read for each structure.
STRUCTURE_LABELS = {
    "brain": "Whole brain",
    "left_hemisphere": "Left hemisphere",
    "right_hemisphere": "Right hemisphere",
    "white_matter": "White matter",
    "ventricles": "Ventricles",
}
#: Every mesh format the exporter writes.
FORMATS = ("stl", "obj", "ply", "glb", "3mf")

#: Structures printed when none are asked for (the three a job has always made).
DEFAULT_STRUCTURES = ("brain", "white_matter", "ventricles")
#: Formats written when none are asked for (issue 13: STL + GLB, and 3MF).
DEFAULT_FORMATS = ("stl", "glb", "3mf")
#: Wall thickness of a hollow piece, in mm at print size; 0 prints solid pieces.
DEFAULT_HOLLOW_MM = 0.0
#: Taubin smoothing iterations (each one shrink and one inflate pass); 0 keeps the voxel surface.
DEFAULT_SMOOTHING = 10
#: Largest triangle count of one piece.
DEFAULT_TARGET_TRIANGLES = 200_000

#: Thinnest wall a hollow piece may have, in mm (thinner walls do not survive printing).
MIN_HOLLOW_MM = 0.8
#: Thickest wall, in mm.
MAX_HOLLOW_MM = 20.0
#: Print size as a share of life size, in percent.
SCALE_PERCENT_RANGE = (10.0, 500.0)
#: Longest side of the printed pieces together, in mm.
LONGEST_SIDE_MM_RANGE = (20.0, 1000.0)
#: Smoothing iterations.
SMOOTHING_RANGE = (0, 100)
#: Triangles per piece.
TARGET_TRIANGLES_RANGE = (1_000, 2_000_000)

OPTION_NAMES = (
    "structures",
    "formats",
    "hollow_mm",
    "scale_percent",
    "longest_side_mm",
    "smoothing",
    "target_triangles",
)


class InvalidOption(ValueError):  # noqa: N818 - reads as the condition, like the API's others
    """A print option that is unknown, of the wrong type, or out of range."""

    code = INVALID_OPTION

    def __init__(self, option: str, message: str):
        super().__init__(message)
        self.option = option
        self.message = message


@dataclass(frozen=True)
class PrintOptions:
    """The printed pieces: which, in which files, how big, solid or hollow, how smooth.

    Build one with :func:`parse_print_options` from untrusted input; the constructor checks the
    values too, so no invalid instance exists.
    """

    structures: tuple[str, ...] = DEFAULT_STRUCTURES
    formats: tuple[str, ...] = DEFAULT_FORMATS
    #: wall thickness at print size in mm; 0 = solid
    hollow_mm: float = DEFAULT_HOLLOW_MM
    #: print size as a share of life size in percent (None with ``longest_side_mm``, or life size)
    scale_percent: float | None = None
    #: longest side of all chosen pieces together at print size, in mm (None: use the scale)
    longest_side_mm: float | None = None
    smoothing: int = DEFAULT_SMOOTHING
    target_triangles: int = DEFAULT_TARGET_TRIANGLES

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "structures", _choice_list("structures", self.structures, STRUCTURES)
        )
        object.__setattr__(self, "formats", _choice_list("formats", self.formats, FORMATS))
        hollow = _number("hollow_mm", self.hollow_mm)
        if hollow != 0 and not MIN_HOLLOW_MM <= hollow <= MAX_HOLLOW_MM:
            raise InvalidOption(
                "hollow_mm",
                f"hollow_mm must be 0 (solid) or a wall of {MIN_HOLLOW_MM:g} to "
                f"{MAX_HOLLOW_MM:g} mm; got {hollow:g}.",
            )
        object.__setattr__(self, "hollow_mm", hollow)
        if self.scale_percent is not None and self.longest_side_mm is not None:
            raise InvalidOption(
                "scale_percent",
                "Give scale_percent or longest_side_mm, not both: each sets the print size.",
            )
        if self.scale_percent is not None:
            object.__setattr__(
                self,
                "scale_percent",
                _ranged("scale_percent", self.scale_percent, SCALE_PERCENT_RANGE, "%"),
            )
        if self.longest_side_mm is not None:
            object.__setattr__(
                self,
                "longest_side_mm",
                _ranged("longest_side_mm", self.longest_side_mm, LONGEST_SIDE_MM_RANGE, " mm"),
            )
        object.__setattr__(
            self, "smoothing", _integer("smoothing", self.smoothing, SMOOTHING_RANGE)
        )
        object.__setattr__(
            self,
            "target_triangles",
            _integer("target_triangles", self.target_triangles, TARGET_TRIANGLES_RANGE),
        )

    @property
    def hemispheres(self) -> bool:
        """True when either hemisphere is asked for (the midline plane must be found)."""
        return "left_hemisphere" in self.structures or "right_hemisphere" in self.structures

    def to_dict(self) -> dict[str, Any]:
        """The options as JSON-ready values, under their public names."""
        out = asdict(self)
        out["structures"] = list(self.structures)
        out["formats"] = list(self.formats)
        return out


def _choice_list(option: str, value: object, allowed: tuple[str, ...]) -> tuple[str, ...]:
    if isinstance(value, str):
        items = [v.strip() for v in value.split(",")]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise InvalidOption(option, f"{option} must be a list of names among {', '.join(allowed)}.")
    names = []
    for item in items:
        if not isinstance(item, str):
            raise InvalidOption(
                option, f"{option} must be a list of names among {', '.join(allowed)}."
            )
        name = item.strip().lower().lstrip(".")
        if name and name not in allowed:
            raise InvalidOption(
                option, f"{option} has unknown {name!r}; choose among {', '.join(allowed)}."
            )
        if name and name not in names:
            names.append(name)
    if not names:
        raise InvalidOption(option, f"{option} needs at least one of {', '.join(allowed)}.")
    # Listed in a stable order, whatever order they were asked in.
    return tuple(n for n in allowed if n in names)


def _number(option: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidOption(option, f"{option} must be a number; got {value!r}.")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidOption(option, f"{option} must be a finite number.")
    return number


def _ranged(option: str, value: object, bounds: tuple[float, float], unit: str) -> float:
    number = _number(option, value)
    low, high = bounds
    if not low <= number <= high:
        raise InvalidOption(
            option, f"{option} must be between {low:g}{unit} and {high:g}{unit}; got {number:g}."
        )
    return number


def _integer(option: str, value: object, bounds: tuple[int, int]) -> int:
    number = _number(option, value)
    low, high = bounds
    if number != int(number):
        raise InvalidOption(option, f"{option} must be a whole number; got {number:g}.")
    if not low <= number <= high:
        raise InvalidOption(
            option, f"{option} must be a whole number from {low:,} to {high:,}; got {number:g}."
        )
    return int(number)


def _from_text(option: str, text: str) -> object:
    """A form field's text as the type its option takes (validation follows)."""
    text = text.strip()
    if option in ("structures", "formats"):
        return text
    if option in ("scale_percent", "longest_side_mm") and text == "":
        return None
    try:
        return float(text)
    except ValueError:
        raise InvalidOption(option, f"{option} must be a number; got {text!r}.") from None


def parse_print_options(
    data: Mapping[str, object] | None, *, text: bool = False, ignore: tuple[str, ...] = ()
) -> PrintOptions:
    """Print options from ``data`` (a JSON object, or form fields with ``text=True``); missing
    options take their defaults. Raises :class:`InvalidOption` naming the first bad option.

    Keys in ``ignore`` are not options and are skipped (an upload form's ``file``).
    """
    if data is None:
        return PrintOptions()
    if not isinstance(data, Mapping):
        raise InvalidOption("options", "The options must be a JSON object.")
    values: dict[str, object] = {}
    for key in data:
        if key in ignore:
            continue
        if key not in OPTION_NAMES:
            raise InvalidOption(
                str(key), f"Unknown option {str(key)!r}; options are {', '.join(OPTION_NAMES)}."
            )
        value = data[key]
        if text:
            if not isinstance(value, str):
                raise InvalidOption(key, f"{key} must be text in a form field.")
            value = _from_text(key, value)
        elif value is None and key not in ("scale_percent", "longest_side_mm"):
            raise InvalidOption(key, f"{key} must not be null.")
        values[key] = value
    return PrintOptions(**values)  # type: ignore[arg-type]


def options_from_dict(data: Mapping[str, object]) -> PrintOptions:
    """Options written by :meth:`PrintOptions.to_dict` (a report or a queued re-make)."""
    return parse_print_options({k: v for k, v in data.items() if k in OPTION_NAMES})


def allowed_ranges() -> dict[str, object]:
    """What each option accepts, for a page to build its controls from."""
    return {
        "structures": {"choices": list(STRUCTURES), "default": list(DEFAULT_STRUCTURES)},
        "formats": {"choices": list(FORMATS), "default": list(DEFAULT_FORMATS)},
        "hollow_mm": {"min": MIN_HOLLOW_MM, "max": MAX_HOLLOW_MM, "solid": 0, "default": 0},
        "scale_percent": {
            "min": SCALE_PERCENT_RANGE[0],
            "max": SCALE_PERCENT_RANGE[1],
            "default": 100,
        },
        "longest_side_mm": {
            "min": LONGEST_SIDE_MM_RANGE[0],
            "max": LONGEST_SIDE_MM_RANGE[1],
            "default": None,
        },
        "smoothing": {
            "min": SMOOTHING_RANGE[0],
            "max": SMOOTHING_RANGE[1],
            "default": DEFAULT_SMOOTHING,
        },
        "target_triangles": {
            "min": TARGET_TRIANGLES_RANGE[0],
            "max": TARGET_TRIANGLES_RANGE[1],
            "default": DEFAULT_TARGET_TRIANGLES,
        },
    }


#: Object name, in a job's store, of the options its worker reads (a message carries the job id
#: only): ``{"print_options": {...}, "source_job_id": "<id>"}``, the source for a re-make only.
OPTIONS_OBJECT = "options.json"


def options_document(options: PrintOptions, source_job_id: str | None = None) -> dict[str, Any]:
    """What :data:`OPTIONS_OBJECT` holds."""
    document: dict[str, Any] = {"print_options": options.to_dict()}
    if source_job_id:
        document["source_job_id"] = source_job_id
    return document


def read_options_document(data: Mapping[str, Any]) -> tuple[PrintOptions, str | None]:
    """The options and the source job of an :data:`OPTIONS_OBJECT` document."""
    options = options_from_dict(data.get("print_options") or {})
    source = data.get("source_job_id")
    return options, str(source) if source else None
