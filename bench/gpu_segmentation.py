"""The segmentation path on CUDA, timed against the CPU of the same machine. Run by hand on a
machine with a GPU (through the session's device tool: see bench/README.md, "GPU figures").

    python bench/gpu_segmentation.py [--repeats 5] [--scan PATH]

It loads, prepares, segments (deepbet's two networks and the tissue model) and cleans up
nilearn's 1 mm MNI152 T1, or PATH; meshing is CPU code and needs VTK and open3d, which a
device machine lacks, so it is left out. For each device it prints the median step times of
warm runs, the peak GPU memory, and how far the CUDA label map is from the CPU one (Dice per
label), so a CUDA-only numerical difference shows. Needs torch, MONAI, nibabel, SciPy,
connected-components-3d, fill_voids and the deepbet wheel (its weights), nothing else.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402


def mni_t1() -> Path:
    """nilearn's MNI152 T1 (nilearn is not imported: only its data file is needed)."""
    import importlib.util

    spec = importlib.util.find_spec("nilearn")
    if spec is None or spec.origin is None:
        raise SystemExit("no --scan given and nilearn is not installed")
    data = Path(spec.origin).parent / "datasets" / "data"
    return data / "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"


def run(scan: Path, device: str, repeats: int) -> tuple[dict[str, float], np.ndarray, float]:
    """Median seconds per step over ``repeats`` warm runs, the last label map, peak GPU GiB."""
    from gpu_worker.pipeline.load import load_scan
    from gpu_worker.pipeline.models import get_segmenter
    from gpu_worker.pipeline.postprocess import postprocess
    from gpu_worker.pipeline.preprocess import prepare
    from gpu_worker.pipeline.segment import segment

    torch_device = torch.device(device)
    segmenter = get_segmenter(str(REPO / "models" / "deepbet"), str(torch_device))
    segmenter.warmup()
    times: dict[str, list[float]] = {}
    labels = np.zeros(0)
    if torch_device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(torch_device)
    for _ in range(repeats):
        marks = [("start", time.perf_counter())]
        scan_data = load_scan(scan, workdir=Path("/tmp"))
        marks.append(("Loading scan", time.perf_counter()))
        prepared = prepare(scan_data, torch_device, 1.0)
        marks.append(("Preparing", time.perf_counter()))
        seg = segment(prepared, segmenter)  # ends with the labels on the host: synchronised
        marks.append(("Segmenting", time.perf_counter()))
        seg = postprocess(seg)
        marks.append(("Cleaning up", time.perf_counter()))
        for (_, before), (name, after) in itertools.pairwise(marks):
            times.setdefault(name, []).append(after - before)
        for part, seconds in seg.inference_parts.items():
            times.setdefault(f"  {part}", []).append(seconds)
        labels = seg.labels
    peak = (
        torch.cuda.max_memory_allocated(torch_device) / 1024**3
        if torch_device.type == "cuda"
        else 0.0
    )
    return {k: statistics.median(v) for k, v in times.items()}, labels, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--scan", type=Path, default=None)
    args = parser.parse_args()
    scan = args.scan or mni_t1()
    devices = ["cuda", "cpu"] if torch.cuda.is_available() else ["cpu"]
    print(f"torch {torch.__version__}, CPU threads {torch.get_num_threads()}")
    if torch.cuda.is_available():
        print(f"GPU: {torch.cuda.get_device_name(0)}")
    else:
        print("no CUDA device: CPU figures only")
    results = {device: run(scan, device, args.repeats) for device in devices}
    names = list(next(iter(results.values()))[0])
    print(f"\n{scan.name}, median of {args.repeats} warm runs (seconds)")
    print("| step | " + " | ".join(devices) + " |")
    print("|---|" + "---|" * len(devices))
    for name in names:
        row = " | ".join(f"{results[d][0][name]:.3f}" for d in devices)
        print(f"| {name} | {row} |")
    for device in devices:
        if device == "cuda":
            print(f"peak GPU memory: {results[device][2]:.2f} GiB")
    if len(devices) == 2:
        gpu, cpu = results["cuda"][1], results["cpu"][1]
        for value in sorted(set(np.unique(cpu)) - {0}):
            a, b = gpu == value, cpu == value
            dice = 2 * np.count_nonzero(a & b) / max(np.count_nonzero(a) + np.count_nonzero(b), 1)
            print(f"label {value}: Dice CUDA vs CPU {dice:.4f}")


if __name__ == "__main__":
    main()
