"""Printed pieces, measured (issue 11): ``python bench/print_bench.py [--device cuda]``.

On each healthy scan of ../shared/data (T1_head_2mm, MNI152_2009_template; nilearn's MNI152
without it) the full pipeline runs once with the default options; then, from its output, a
re-make for every option set below, timed beside the full run and beside a full job asked for
with the same options (the one a re-make saves). For each piece of each re-make:
closed, manifold, outward (our check, then PrusaSlicer's ``--info`` and ADMesh on the files);
hemispheres: volumes, the gap, the flatness of each cut face; hollow: wall thickness at sampled
points of the cavity and the material volume against the file's; print size against the
request. Then the midline plane of one head in two voxel orientations. Prints markdown tables
(bench/README.md keeps them).
"""

from __future__ import annotations

import argparse
import itertools
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gpu_worker.pipeline.meshing.measure import flatness, wall_thickness  # noqa: E402
from gpu_worker.pipeline.meshing.readers import read_stl  # noqa: E402
from gpu_worker.pipeline.meshing.surface import check_mesh  # noqa: E402
from gpu_worker.pipeline.options import PipelineOptions  # noqa: E402
from gpu_worker.pipeline.remake import remake  # noqa: E402
from gpu_worker.pipeline.run import run_pipeline  # noqa: E402
from mrimesh.config import Settings  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
ALL = ("brain", "left_hemisphere", "right_hemisphere", "white_matter", "ventricles")
#: Option sets re-made from each full run: (label, options).
OPTION_SETS = [
    ("defaults (brain, WM, ventricles; solid; life size)", {}),
    ("print size only: 50 %", {"scale_percent": 50.0}),
    ("formats only: STL + PLY + 3MF", {"formats": ("stl", "ply", "3mf")}),
    ("walls only: hollow 2 mm", {"hollow_mm": 2.0}),
    ("all five pieces, solid", {"structures": ALL}),
    ("hemispheres, hollow 2 mm, longest side 120 mm", {
        "structures": ("left_hemisphere", "right_hemisphere"), "hollow_mm": 2.0,
        "longest_side_mm": 120.0,
    }),
    ("all five, hollow 1 mm, 50 %", {"structures": ALL, "hollow_mm": 1.0, "scale_percent": 50.0}),
    ("brain, hollow 3 mm, life size, smoothing 0, 50k triangles", {
        "structures": ("brain",), "hollow_mm": 3.0, "smoothing_iterations": 0,
        "target_triangles": 50_000,
    }),
]  # fmt: skip
REPAIR_WORDS = re.compile(
    r"open_edges|facets_removed|facets_reversed|backwards_edges|edges_fixed|degenerate"
)


def slicer_ok(path: Path) -> str:
    """PrusaSlicer --info's verdict (and ADMesh's for an STL): "ok" or what was wrong."""
    prusa = shutil.which("prusa-slicer")
    if prusa is None:
        return "no prusa-slicer"
    done = subprocess.run([prusa, "--info", str(path)], capture_output=True, text=True, timeout=300)
    text = "\n".join(line for line in done.stdout.splitlines() if "[" not in line)
    if done.returncode or "manifold = no" in text or REPAIR_WORDS.search(text):
        return "prusa: " + text[-200:]
    if path.suffix == ".stl" and shutil.which("admesh"):
        stats = subprocess.run(["admesh", str(path)], capture_output=True, text=True).stdout
        fixed = re.findall(
            r"^(Edges fixed|Facets removed|Facets added|Facets reversed|Backwards edges|"
            r"Degenerate facets|Total disconnected facets)\s*:\s+(\d+)",
            stats,
            flags=re.M,
        )
        bad = [f"{k} {v}" for k, v in fixed if v != "0"]
        if bad:
            return "admesh: " + ", ".join(bad)
    return "ok"


def measure(out: Path, report: dict, asked: dict) -> list[dict]:
    rows = []
    plane = report["print"].get("midline_plane")
    for piece in report["structures"]:
        path = out / piece["files"]["stl"]
        mesh = read_stl(path)
        q = check_mesh(mesh)
        row = {
            "piece": piece["name"],
            "closed/manifold/outward": q.watertight and q.vertex_manifold and q.outward,
            "slicer": slicer_ok(path),
            "print size mm": "×".join(f"{v:.1f}" for v in piece["print_size_mm"]),
            "material mL (report / file)": f"{piece['material_ml']:.1f} / "
            f"{mesh.signed_volume() / 1000:.1f}",
        }
        if piece["hollow"]:
            walls = wall_thickness(mesh, samples=3000)
            row["wall p1 / min mm"] = f"{np.percentile(walls, 1):.2f} / {walls.min():.2f}"
            row["wall ≥ asked − 0.2 at"] = f"{np.mean(walls >= asked['hollow_mm'] - 0.2):.1%}"
        if piece["name"].endswith("_hemisphere") and plane:
            side = -1 if piece["name"] == "left_hemisphere" else 1
            normal = np.asarray(plane["normal"])
            depth = side * (
                mesh.vertices @ normal - plane["offset_mm"] * report["print"]["scale_percent"] / 100
            )
            gap = report["print"]["hemisphere_gap_mm"]
            cut = mesh.vertices[np.abs(depth - gap / 2) < 1e-3]
            row["cut flatness mm"] = f"{flatness(cut)[1]:.3f}" if len(cut) > 3 else "-"
            row["min distance to plane mm"] = f"{depth.min():.3f}"
            row["volume mL"] = piece["volume_ml"]
        rows.append(row)
    return rows


def table(rows: list[dict]) -> str:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(r.get(k, "")) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    settings = Settings.from_env(device=args.device)
    scans = [SHARED / n for n in ("T1_head_2mm.nii.gz", "MNI152_2009_template.nii.gz")]
    scans = [s for s in scans if s.exists()]
    if not scans:
        from tests.support.data import nilearn_mni_t1

        scans = [nilearn_mni_t1()]
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        for scan in scans:
            name = scan.name.split(".")[0]
            # Twice: the first pays for loading the model and starting the meshing helpers,
            # which a worker has done before its first job.
            for _ in range(2):
                shutil.rmtree(tmp / name / "full", ignore_errors=True)
                start = time.perf_counter()
                full = run_pipeline(scan, tmp / name / "full", PipelineOptions(), settings)
                full_seconds = time.perf_counter() - start
            print(f"\n### {name}: full job {full_seconds:.1f} s ({full['steps']})\n")
            summary = []
            for i, (label, asked) in enumerate(OPTION_SETS):
                # The same options asked for at upload: the full job a re-make saves.
                start = time.perf_counter()
                run_pipeline(scan, tmp / name / f"full{i}", PipelineOptions(**asked), settings)
                same_seconds = time.perf_counter() - start
                shutil.rmtree(tmp / name / f"full{i}")
                out = tmp / name / f"remake{i}"
                start = time.perf_counter()
                report = remake(tmp / name / "full", out, PipelineOptions(**asked), settings)
                seconds = time.perf_counter() - start
                summary.append(
                    {
                        "options": label,
                        "re-make s": f"{seconds:.1f}",
                        "÷ full job": f"{seconds / full_seconds:.0%}",
                        "full job, same options s": f"{same_seconds:.1f}",
                        "÷ it": f"{seconds / same_seconds:.0%}",
                        "pieces reused": sum(p["reused"] for p in report["structures"]),
                        "steps": report["steps"],
                        "print size mm": "×".join(f"{v:.1f}" for v in report["print"]["size_mm"]),
                    }
                )
                print(f"#### {label}\n\n{table(measure(out, report, asked))}\n")
                if "3mf" in report["print"]["files"]:
                    print(f"3MF: {slicer_ok(out / report['print']['files']['3mf'])}\n")
            print(table(summary))
        # One head in several voxel orientations: the midline plane in world space.
        heads = [SHARED / "orientations" / f"{c}.nii.gz" for c in ("RAS", "LPS", "AIL", "IPR")]
        heads = [h for h in heads if h.exists()]
        planes = {}
        options = PipelineOptions(structures=("left_hemisphere", "right_hemisphere"))
        for head in heads:
            report = run_pipeline(head, tmp / head.name, options, settings)
            planes[head.name.split(".")[0]] = report["print"]["midline_plane"]
        if planes:
            ras = tmp / "RAS.nii.gz"
            vertices = np.concatenate(
                [
                    read_stl(ras / f"{n}.stl").vertices
                    for n in ("left_hemisphere", "right_hemisphere")
                ]
            )
            corners = np.array(
                list(itertools.product(*zip(vertices.min(0), vertices.max(0), strict=True)))
            )
            print("\n| orientations | planes' largest distance apart in the brain's box (mm) |")
            print("|---|---|")
            for (a, pa), (b, pb) in itertools.combinations(planes.items(), 2):
                da = corners @ np.asarray(pa["normal"]) - pa["offset_mm"]
                db = corners @ np.asarray(pb["normal"]) - pb["offset_mm"]
                print(f"| {a} vs {b} | {np.abs(da - db).max():.2f} |")


if __name__ == "__main__":
    main()
