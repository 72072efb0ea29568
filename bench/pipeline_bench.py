"""Imaging pipeline bench: speed, memory and quality on real brains. Run by hand, prints figures.

    python bench/pipeline_bench.py              # everything (about 2 minutes on 2 cores)
    python bench/pipeline_bench.py --device cuda
    python bench/pipeline_bench.py --single SCAN  # one fresh-process run, prints JSON (used below)

Cases: nilearn's MNI152 T1 (1 mm, always there), and ../shared/data when present (the MNI152
2009 template with skull, a real 2 mm T1, a FLAIR, a 4D ASL series, one head in four voxel
orders). References: nilearn's MNI152 brain mask (the T1 template > 0.2) and its GM/WM
probability maps thresholded at 0.5, resampled to each scan's grid through world coordinates.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import nibabel as nib  # noqa: E402
import numpy as np  # noqa: E402
from scipy import ndimage  # noqa: E402
from scipy.spatial import ConvexHull, cKDTree  # noqa: E402

SHARED = REPO.parent / "shared" / "data"


def nilearn_file(name: str) -> Path:
    import nilearn

    return (
        Path(nilearn.__file__).parent
        / "datasets"
        / "data"
        / f"mni_icbm152_{name}_tal_nlin_sym_09a_converted.nii.gz"
    )


def load_avg() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def reference_in(scan: Path, name: str, threshold: float) -> np.ndarray:
    """A nilearn MNI152 map resampled (trilinear) onto ``scan``'s grid, thresholded."""
    target = nib.load(str(scan))
    ref = nib.load(str(nilearn_file(name)))
    data = np.asarray(ref.dataobj, dtype=np.float32)
    data /= data.max()
    to_ref = np.linalg.inv(ref.affine) @ target.affine
    resampled = ndimage.affine_transform(
        data, to_ref[:3, :3], to_ref[:3, 3], output_shape=target.shape[:3], order=1
    )
    return resampled > threshold


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b)))


def hausdorff(a: np.ndarray, b: np.ndarray) -> float:
    return float(max(cKDTree(b).query(a)[0].max(), cKDTree(a).query(b)[0].max()))


def read_vertices(path: Path) -> np.ndarray:
    """Vertices of one of our binary PLY files."""
    raw = path.read_bytes()
    end = raw.index(b"end_header\n") + len(b"end_header\n")
    header = raw[:end].decode()
    count = int(header.split("element vertex ")[1].split()[0])
    return np.frombuffer(raw, "<f4", count * 6, end).reshape(-1, 6)[:, :3].astype(np.float64)


# --- One run in a fresh process (peak memory of a worker-like process) ------------------------


def single(scan: Path, device: str) -> None:
    """Run the pipeline once in this (fresh) process and print its figures as JSON."""
    from gpu_worker.pipeline.meshing.mesh_pool import helper_count, stop_helpers
    from gpu_worker.pipeline.models import preload
    from gpu_worker.pipeline.options import PipelineOptions
    from gpu_worker.pipeline.run import run_pipeline
    from mrimesh.config import Settings

    settings = Settings.from_env({}, device=device)
    start = time.perf_counter()
    preload(settings, warmup=False)
    load_seconds = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as out:
        first = run_pipeline(scan, Path(out), PipelineOptions(), settings)
        second = run_pipeline(scan, Path(out), PipelineOptions(), settings)
    stop_helpers()  # joined, so their peak memory shows in RUSAGE_CHILDREN
    worker = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    helper = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
    helpers = helper_count(settings.mesh_processes)
    print(
        json.dumps(
            {
                "model_and_helpers_start_seconds": round(load_seconds, 2),
                "first": {"total": first["total_seconds"], "steps": first["steps"]},
                "second": {"total": second["total_seconds"], "steps": second["steps"]},
                "peak_rss_gb": round(worker, 2),
                "meshing_helpers": helpers,
                "largest_helper_peak_rss_gb": round(helper, 2),
                "worst_case_total_rss_gb": round(worker + helpers * helper, 2),
            }
        )
    )


def speed_comparison(scan: Path, settings, repeats: int) -> None:
    """Median step times of warm runs: the default, scikit-image's marching cubes, and
    meshing inside the worker process (no helpers)."""
    from dataclasses import replace

    from gpu_worker.pipeline.options import PipelineOptions

    configurations = [
        ("default: helpers + flying edges", settings, PipelineOptions()),
        (
            "helpers + scikit-image marching cubes",
            settings,
            PipelineOptions(iso_surface="scikit_image"),
        ),
        (
            "no helpers (MRIMESH_MESH_PROCESSES=1)",
            replace(settings, mesh_processes=1),
            PipelineOptions(),
        ),
    ]
    print(f"\n## Warm runs on {scan.name}, median of {repeats} (seconds)")
    print("| configuration | Segmenting | Cleaning up | Generating meshes | Exporting | total | "
          "total / Segmenting |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp_dir:
        for name, conf, options in configurations:
            runs = [
                run_case(scan, Path(tmp_dir) / f"{name[:8]}{i}", conf, options)
                for i in range(repeats)
            ]
            step = {
                key: float(np.median([r["steps"][key] for r in runs])) for key in runs[0]["steps"]
            }
            ratio = float(np.median([r["total_seconds"] / r["steps"]["segmenting"] for r in runs]))
            total = float(np.median([r["total_seconds"] for r in runs]))
            print(
                f"| {name} | {step['segmenting']:.2f} | {step['cleaning_up']:.2f} | "
                f"{step['meshing']:.2f} | {step['exporting']:.2f} | {total:.2f} | "
                f"{ratio:.2f} |"
            )


# --- The bench ------------------------------------------------------------------------------


def run_case(scan: Path, out: Path, settings, options=None) -> dict:
    from gpu_worker.pipeline.options import PipelineOptions
    from gpu_worker.pipeline.run import run_pipeline

    return run_pipeline(scan, out, options or PipelineOptions(), settings)


def print_run(name: str, report: dict) -> None:
    steps = report["steps"]
    seg = steps["segmenting"]
    parts = report.get("inference_parts", {})
    networks = parts.get("brain_mask_networks") or parts.get("network") or seg
    print(f"\n### {name}")
    print(f"input {report['input']['shape']} @ {report['input']['voxel_size_mm']} mm, ", end="")
    print(f"device {report['device']}, notes {report['notes'] or '-'}")
    print("| step | seconds |\n|---|---|")
    for step, seconds in steps.items():
        print(f"| {step} | {seconds:.2f} |")
    print(f"| **total** | **{report['total_seconds']:.2f}** |")
    print(
        f"segmentation parts {parts}; total / Segmenting step = "
        f"{report['total_seconds'] / seg:.2f}; total / network inference = "
        f"{report['total_seconds'] / networks:.2f}"
    )
    print("| structure | volume mL | triangles | watertight | manifold | outward | hull ratio |")
    print("|---|---|---|---|---|---|---|")
    for s in report["structures"]:
        print(
            f"| {s['name']} | {s['volume_ml']:.0f} | {s['triangles']:,} | {s['watertight']} | "
            f"{s['manifold']} | {s['outward_normals']} | {s['hull_area_ratio']} |"
        )


def quality(name: str, scan: Path, out: Path, tissue: bool) -> dict:
    labels = np.asarray(nib.load(str(out / "segmentation.nii.gz")).dataobj)
    figures = {"brain_dice": dice(labels > 0, reference_in(scan, "t1", 0.2))}
    if tissue:
        figures["gm_dice"] = dice(labels == 2, reference_in(scan, "gm", 0.5))
        figures["wm_dice"] = dice(labels == 3, reference_in(scan, "wm", 0.5))
    print(f"{name}: " + ", ".join(f"{k} {v:.3f}" for k, v in figures.items()))
    return figures


def decimation_comparison(seg_path: Path) -> None:
    """fast-simplification vs open3d on the raw brain and white-matter surfaces."""
    from gpu_worker.pipeline.bundle import DEFAULT_BUNDLE_DIR, read_bundle
    from gpu_worker.pipeline.meshing.build import structure_mask
    from gpu_worker.pipeline.meshing.mesh import clean, decimate, marching_cubes_mask, taubin_smooth
    from gpu_worker.pipeline.meshing.repair import repair
    from gpu_worker.pipeline.meshing.surface import check_mesh

    labels = np.asarray(nib.load(str(seg_path)).dataobj)
    bundle = read_bundle(DEFAULT_BUNDLE_DIR)
    print("\n### Decimation: fast-simplification vs open3d (same smoothed marching-cubes input)")
    print(
        "| structure | raw triangles | target | library | seconds | closed+manifold as is | "
        "after repair | mean / max distance to raw, mm | volume change % |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for spec in bundle.structures[:2]:
        mask = structure_mask(labels, spec, 0.001, 1.0)
        raw = taubin_smooth(marching_cubes_mask(mask), 10)
        raw_tree = cKDTree(raw.vertices)
        for target in (200_000, 100_000):
            for method in ("fast_simplification", "open3d"):
                start = time.perf_counter()
                small = clean(decimate(raw, target, method))
                seconds = time.perf_counter() - start
                as_is = check_mesh(small).ok
                fixed = small if as_is else repair(small)
                after = check_mesh(fixed).ok
                d = raw_tree.query(fixed.vertices)[0]
                back = cKDTree(fixed.vertices).query(raw.vertices)[0]
                change = 100 * (fixed.signed_volume() / raw.signed_volume() - 1)
                print(
                    f"| {spec.name} | {raw.n_triangles:,} | {target:,} | {method} | "
                    f"{seconds:.2f} | {as_is} | {after} | {d.mean():.3f} / "
                    f"{max(d.max(), back.max()):.2f} | {change:+.2f} |"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--single", type=Path, help="one fresh-process run of this scan")
    parser.add_argument("--repeats", type=int, default=5, help="warm runs per configuration")
    args = parser.parse_args()
    if args.single:
        single(args.single, args.device)
        return

    import torch

    from gpu_worker.pipeline.models import preload
    from mrimesh.config import Settings

    print(f"# Pipeline bench — {time.strftime('%Y-%m-%d %H:%M')}, {load_avg()} at start")
    print(
        f"cores available: {len(os.sched_getaffinity(0))}, torch threads {torch.get_num_threads()}"
    )
    settings = Settings.from_env({}, device=args.device)
    mni = nilearn_file("t1")

    print("\n## Fresh worker-like process, nilearn MNI152 1 mm (model load, run 1, run 2)")
    fresh = subprocess.run(
        [sys.executable, __file__, "--single", str(mni), "--device", args.device],
        capture_output=True,
        text=True,
        check=True,
    )
    figures = json.loads(fresh.stdout.strip().splitlines()[-1])
    print(json.dumps(figures, indent=1))

    start = time.perf_counter()
    preload(settings, warmup=True)
    print(f"\npreload with warm-up: {time.perf_counter() - start:.2f} s")

    speed_comparison(mni, settings, args.repeats)

    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        print("\n## Quality and speed per scan (warm process)")
        report = run_case(mni, tmp / "mni", settings)
        print_run("nilearn MNI152 T1, 1 mm, skull-stripped", report)
        quality("nilearn MNI152", mni, tmp / "mni", tissue=True)

        shared_cases = [
            ("MNI152 2009 template with skull, 1 mm", "MNI152_2009_template.nii.gz", True),
            ("real adult T1, 2 mm, full head", "T1_head_2mm.nii.gz", False),
            ("FLAIR, skull-stripped, 1 mm", "FLAIR.nii.gz", False),
            ("4D ASL, 3.4 x 3.4 x 5 mm", "mpld_asl.nii.gz", False),
        ]
        for title, name, has_reference in shared_cases:
            scan = SHARED / name
            if not scan.exists():
                print(f"\n(skipped {name}: no ../shared/data)")
                continue
            out = tmp / name.split(".")[0]
            print_run(title, run_case(scan, out, settings))
            if has_reference:
                quality(name, scan, out, tissue=True)

        if (SHARED / "orientations").exists():
            print("\n### Same head in four voxel orders (symmetric Hausdorff vs RAS, mm)")
            print("| order | brain | white_matter | brain volume mL |\n|---|---|---|---|")
            meshes = {}
            for codes in ("RAS", "LPS", "AIL", "IPR"):
                out = tmp / codes
                rep = run_case(SHARED / "orientations" / f"{codes}.nii.gz", out, settings)
                meshes[codes] = {
                    s: read_vertices(out / f"{s}.ply") for s in ("brain", "white_matter")
                }
                volume = rep["structures"][0]["volume_ml"]
                h = [hausdorff(meshes[codes][s], meshes["RAS"][s]) for s in meshes[codes]]
                print(f"| {codes} | {h[0]:.2f} | {h[1]:.2f} | {volume:.1f} |")

        decimation_comparison(tmp / "mni" / "segmentation.nii.gz")
        brain = read_vertices(tmp / "mni" / "brain.ply")
        print(f"\nMNI brain convex hull area {ConvexHull(brain).area / 100:.0f} cm²")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"\npeak RSS of this bench process (all cases): {peak:.2f} GB")
    print(f"{load_avg()} at end")


if __name__ == "__main__":
    main()
