"""Print options: one validator for the upload form, the re-make body, the worker and the CLI."""

from __future__ import annotations

import pytest

from mrimesh.print_options import (
    DEFAULT_FORMATS,
    DEFAULT_STRUCTURES,
    InvalidOption,
    PrintOptions,
    allowed_ranges,
    options_from_dict,
    parse_print_options,
)


def test_defaults_are_todays_structures_solid_life_size_stl_glb_3mf() -> None:
    options = parse_print_options({})
    assert options.structures == DEFAULT_STRUCTURES == ("brain", "white_matter", "ventricles")
    assert options.formats == DEFAULT_FORMATS == ("stl", "glb", "3mf")
    assert options.hollow_mm == 0
    assert options.scale_percent is None and options.longest_side_mm is None


def test_json_body_with_every_option() -> None:
    options = parse_print_options(
        {
            "structures": ["right_hemisphere", "left_hemisphere"],
            "formats": ["3mf", "stl"],
            "hollow_mm": 2,
            "longest_side_mm": 120,
            "smoothing": 5,
            "target_triangles": 50_000,
        }
    )
    # listed in a stable order whatever order they came in
    assert options.structures == ("left_hemisphere", "right_hemisphere")
    assert options.formats == ("stl", "3mf")
    assert (options.hollow_mm, options.longest_side_mm, options.smoothing) == (2.0, 120.0, 5)
    assert options.hemispheres
    assert options_from_dict(options.to_dict()) == options


def test_form_fields_are_text() -> None:
    options = parse_print_options(
        {"structures": "brain,ventricles", "hollow_mm": "1.5", "scale_percent": "50", "file": "x"},
        text=True,
        ignore=("file",),
    )
    assert options.structures == ("brain", "ventricles")
    assert options.hollow_mm == 1.5 and options.scale_percent == 50.0


@pytest.mark.parametrize(
    ("data", "option", "words"),
    [
        ({"colour": "red"}, "colour", "Unknown option"),
        ({"structures": ["cortex"]}, "structures", "brain, left_hemisphere"),
        ({"structures": []}, "structures", "at least one"),
        ({"structures": "brain"}, None, None),  # one name as a string is fine
        ({"formats": ["fbx"]}, "formats", "stl, obj, ply, glb, 3mf"),
        ({"formats": 3}, "formats", "list"),
        ({"hollow_mm": "2"}, "hollow_mm", "number"),
        ({"hollow_mm": True}, "hollow_mm", "number"),
        ({"hollow_mm": 0.3}, "hollow_mm", "0.8 to 20 mm"),
        ({"hollow_mm": 25}, "hollow_mm", "0.8 to 20 mm"),
        ({"scale_percent": 5}, "scale_percent", "between 10% and 500%"),
        ({"scale_percent": float("nan")}, "scale_percent", "finite"),
        ({"longest_side_mm": 5000}, "longest_side_mm", "between 20 mm and 1000 mm"),
        ({"scale_percent": 50, "longest_side_mm": 100}, "scale_percent", "not both"),
        ({"smoothing": 2.5}, "smoothing", "whole number"),
        ({"smoothing": -1}, "smoothing", "0 to 100"),
        ({"target_triangles": 10}, "target_triangles", "1,000 to 2,000,000"),
        ({"target_triangles": None}, "target_triangles", "null"),
    ],
)
def test_each_refusal_names_the_option_and_its_range(data, option, words) -> None:
    if option is None:
        parse_print_options(data)
        return
    with pytest.raises(InvalidOption) as refused:
        parse_print_options(data)
    assert refused.value.option == option
    assert option in refused.value.message
    assert words in refused.value.message
    assert refused.value.code == "invalid_option"


def test_form_field_that_is_not_a_number() -> None:
    with pytest.raises(InvalidOption, match="hollow_mm must be a number"):
        parse_print_options({"hollow_mm": "thick"}, text=True)


def test_an_invalid_instance_cannot_be_built() -> None:
    with pytest.raises(InvalidOption):
        PrintOptions(hollow_mm=-1)


def test_allowed_ranges_describe_every_option() -> None:
    ranges = allowed_ranges()
    assert set(ranges) == set(PrintOptions().to_dict())
    assert ranges["hollow_mm"]["min"] == 0.8
