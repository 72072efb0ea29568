"""A real slicer accepts the printed pieces as they are: PrusaSlicer's command line (headless)
reads the STL and 3MF files without repairing anything and slices them to G-code, and ADMesh
finds nothing to fix in the STL files."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.pipeline.test_printing import make, mni_labels  # noqa: F401 - the fixture

PRUSA = shutil.which("prusa-slicer")
ADMESH = shutil.which("admesh")
pytestmark = pytest.mark.skipif(
    PRUSA is None or ADMESH is None,
    reason="prusa-slicer and admesh are not installed (scripts/bootstrap.sh installs them)",
)
#: Words PrusaSlicer's --info prints only when it had to repair a mesh.
REPAIR_WORDS = re.compile(
    r"open_edges|facets_removed|facets_reversed|backwards_edges|edges_fixed|degenerate"
    r"|manifold = no",
)


#: PrusaSlicer's own diagnostics logged at error level that are about its wall planner
#: (Arachne's perimeter order), not about the input mesh; they come and go with the slicing
#: parameters and the machine's floating point, and the G-code is written all the same.
SLICER_INTERNAL_NOTES = re.compile(r"reversing even wall line causes it to be printed", re.I)

#: Slicer flags for pieces that rest on a point: automatic supports on a one-layer raft.
SUPPORTS = ("--support-material", "--support-material-auto", "--raft-layers", "1")


def headless() -> dict[str, str]:
    """The environment without any display: the test proves the slicer needs none."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["HOME"] = env.get("HOME", "/tmp")
    return env


def prusa(*args: str, timeout: float = 300) -> str:
    done = subprocess.run(
        [PRUSA, *args], capture_output=True, text=True, timeout=timeout, env=headless()
    )
    lines = [
        line
        for line in (done.stdout + done.stderr).splitlines()
        if not re.search(r"\[(trace|debug|info)\]", line) and not SLICER_INTERNAL_NOTES.search(line)
    ]
    text = "\n".join(lines)
    assert done.returncode == 0, text
    return text


@pytest.fixture(scope="module")
def pieces(mni_labels, tmp_path_factory: pytest.TempPathFactory):  # noqa: F811
    """Hemispheres and white matter, hollow, small enough to slice in seconds."""
    out = tmp_path_factory.mktemp("print")
    result = make(
        mni_labels,
        out,
        structures=("left_hemisphere", "right_hemisphere", "white_matter"),
        formats=("stl", "3mf"),
        hollow_mm=1.0,
        longest_side_mm=50.0,
    )
    return result, out


def test_prusaslicer_reads_every_file_without_repairing(pieces) -> None:
    result, out = pieces
    files = [out / p.files["stl"] for p in result.pieces] + [out / result.files["3mf"]]
    for path in files:
        info = prusa("--info", str(path))
        assert "manifold = yes" in info, info
        assert not REPAIR_WORDS.search(info), info


def test_prusaslicer_slices_the_stl_and_the_3mf(pieces, tmp_path: Path) -> None:
    result, out = pieces
    # A hemisphere's STL as it is (scanner orientation). The 3MF as a brain is printed,
    # with supports on a raft: white matter rests on the tip of a lobe, which alone is no base.
    hemisphere = out / result.pieces[0].files["stl"]
    for source, extra in ((hemisphere, ()), (out / result.files["3mf"], SUPPORTS)):
        gcode = tmp_path / f"{source.stem}.gcode"
        log = prusa(
            "--export-gcode",
            "--layer-height",
            "0.3",
            "--fill-density",
            "10%",
            *extra,
            "--output",
            str(gcode),
            str(source),
        )
        assert gcode.stat().st_size > 10_000, log
        assert "error" not in log.lower(), log
        assert "repair" not in log.lower(), log


def test_admesh_finds_nothing_to_fix(pieces) -> None:
    result, out = pieces
    for piece in result.pieces:
        done = subprocess.run(
            [ADMESH, str(out / piece.files["stl"])], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        stats = dict(re.findall(r"^(\w[\w ]*?)\s*:\s+(\d+)", done.stdout, flags=re.M))
        for field in (
            "Total disconnected facets",
            "Degenerate facets",
            "Edges fixed",
            "Facets removed",
            "Facets added",
            "Facets reversed",
            "Backwards edges",
            "Normals fixed",
        ):
            assert stats.get(field) == "0", (field, done.stdout)
