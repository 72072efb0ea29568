"""``python -m gpu_worker INPUT --out DIR``: the whole pipeline, with a progress bar."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import NoReturn, TextIO

from gpu_worker.pipeline.defaults import (
    DEFAULT_FORMATS,
    DEFAULT_SMOOTHING_ITERATIONS,
    DEFAULT_TARGET_TRIANGLES,
    DEFAULT_WORK_SPACING_MM,
    SUPPORTED_FORMATS,
)
from gpu_worker.pipeline.errors import InputError
from gpu_worker.pipeline.meshing.mesh_pool import start_helpers, stop_helpers
from gpu_worker.progress import Cancelled, reporting_to, step
from mrimesh.config import Settings
from mrimesh.contract import PRIOR_STEP_WEIGHTS, STEP_IDS, Step, step_label
from mrimesh.print_options import (
    DEFAULT_STRUCTURES,
    MAX_HOLLOW_MM,
    MIN_HOLLOW_MM,
    SCALE_PERCENT_RANGE,
    STRUCTURES,
)

#: Exit status when the input itself is unusable (argparse uses 2 for bad arguments).
EXIT_BAD_INPUT = 3
#: Exit status when interrupted (Ctrl-C), as shells report SIGINT.
EXIT_INTERRUPTED = 130

_BAR_WIDTH = 30


class ProgressBar:
    """A reporter for :func:`~gpu_worker.progress.reporting_to` drawing one line on ``stream``.

    Overall progress weighs each step by its usual share of a job's time.
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.last_step: str | None = None
        self.started = time.monotonic()

    def __call__(self, step: str, fraction: float) -> None:
        index = STEP_IDS.index(step) if step in STEP_IDS else 0
        done = sum(PRIOR_STEP_WEIGHTS[s] for s in STEP_IDS[:index])
        total = done + PRIOR_STEP_WEIGHTS.get(step, 0.0) * fraction
        total /= sum(PRIOR_STEP_WEIGHTS.values())
        filled = round(total * _BAR_WIDTH)
        line = (
            f"[{'#' * filled}{'.' * (_BAR_WIDTH - filled)}] {total * 100:5.1f}%  "
            f"{step_label(step):<18} {time.monotonic() - self.started:6.1f}s"
        )
        if self.tty:
            self.stream.write("\r" + line)
        elif step != self.last_step or fraction >= 1.0:
            self.stream.write(line + "\n")
        self.last_step = step
        self.stream.flush()

    def close(self) -> None:
        """End the bar's line."""
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _csv(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    p = argparse.ArgumentParser(
        prog="python -m gpu_worker",
        description="Turn a brain MRI (NIfTI, MGZ or a zipped DICOM series) into 3D meshes.",
    )
    p.add_argument("input", type=Path, nargs="?", help="scan to process (not with --remake)")
    p.add_argument("--out", type=Path, required=True, help="folder for the results")
    p.add_argument(
        "--formats",
        type=_csv,
        default=DEFAULT_FORMATS,
        help=f"comma-separated mesh formats among {','.join(SUPPORTED_FORMATS)} "
        f"(default: {','.join(DEFAULT_FORMATS)})",
    )
    p.add_argument(
        "--target-triangles",
        type=int,
        default=DEFAULT_TARGET_TRIANGLES,
        help=f"largest triangle count per structure (default {DEFAULT_TARGET_TRIANGLES})",
    )
    p.add_argument(
        "--smoothing",
        type=int,
        default=DEFAULT_SMOOTHING_ITERATIONS,
        help=f"Taubin smoothing iterations, 0 for none (default {DEFAULT_SMOOTHING_ITERATIONS})",
    )
    p.add_argument(
        "--structures",
        type=_csv,
        default=None,
        help=f"comma-separated pieces among {','.join(STRUCTURES)} "
        f"(default {','.join(DEFAULT_STRUCTURES)})",
    )
    p.add_argument(
        "--hollow",
        type=float,
        default=0.0,
        metavar="MM",
        help=f"hollow pieces with walls this thick at print size, {MIN_HOLLOW_MM:g}-"
        f"{MAX_HOLLOW_MM:g} mm (default 0: solid)",
    )
    size = p.add_mutually_exclusive_group()
    size.add_argument(
        "--scale",
        type=float,
        default=None,
        metavar="PERCENT",
        help=f"print size in percent of life size, {SCALE_PERCENT_RANGE[0]:g}-"
        f"{SCALE_PERCENT_RANGE[1]:g} (default 100)",
    )
    size.add_argument(
        "--longest-side",
        type=float,
        default=None,
        metavar="MM",
        help="print size given as the longest side of all pieces together, in mm",
    )
    p.add_argument(
        "--remake",
        type=Path,
        default=None,
        metavar="OUTDIR",
        help="re-make the pieces from an earlier output folder without segmenting again",
    )
    p.add_argument("--device", default=None, help="auto, cpu, cuda or cuda:N (default: settings)")
    p.add_argument(
        "--work-spacing",
        type=float,
        default=DEFAULT_WORK_SPACING_MM,
        help=f"voxel size the scan is processed at, in mm (default {DEFAULT_WORK_SPACING_MM})",
    )
    p.add_argument("--zip", type=Path, default=None, help="also package the results to this zip")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print report.json to stdout when done")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit status."""
    p = parser()
    args = p.parse_args(argv)
    if (args.input is None) == (args.remake is None):
        p.error("give either a scan to process or --remake OUTDIR")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env()
    if args.remake is not None or args.input.is_file():
        # The meshing helpers start first: spawning them and importing VTK and SciPy there
        # overlaps with importing torch and running the networks here, instead of following it.
        start_helpers(settings.mesh_processes, wait=False)
    # Heavy imports only once the arguments are known to be valid.
    # A re-make never loads torch: it meshes a saved label map.
    from gpu_worker.pipeline.bundle import DEFAULT_BUNDLE_DIR, read_bundle
    from gpu_worker.pipeline.options import PipelineOptions
    from gpu_worker.pipeline.package import package_results

    bundle = (
        Path(settings.model_bundle).expanduser() if settings.model_bundle else DEFAULT_BUNDLE_DIR
    )
    try:
        if args.device and args.remake is None:
            from gpu_worker.pipeline.models import resolve_device

            resolve_device(args.device)
        known = [s.name for s in read_bundle(bundle).structures]
        if "brain" in known:
            known += ["left_hemisphere", "right_hemisphere"]
        unknown = sorted(set(args.structures or ()) - set(known))
        if unknown:
            raise ValueError(f"unknown structures {unknown}; this model makes {known}")
        options = PipelineOptions(
            formats=args.formats,
            target_triangles=args.target_triangles,
            smoothing_iterations=args.smoothing,
            structures=args.structures,
            hollow_mm=args.hollow,
            scale_percent=args.scale,
            longest_side_mm=args.longest_side,
            device=args.device,
            work_spacing_mm=args.work_spacing,
        )
    except (ValueError, RuntimeError) as e:  # bad option value, or a device this machine lacks
        print(f"error: {e}", file=sys.stderr)
        return 2
    bar = None if args.quiet else ProgressBar(sys.stderr)
    try:
        with reporting_to(bar):
            if args.remake is not None:
                from gpu_worker.pipeline.remake import remake

                report = remake(args.remake, args.out, options, settings)
            else:
                from gpu_worker.pipeline.run import run_pipeline

                report = run_pipeline(args.input, args.out, options, settings)
            if args.zip is not None:
                with step(Step.PACKAGING):
                    package_results(args.out, args.zip)
    except InputError as e:
        if bar:
            bar.close()
        print(f"error: {e.message} [{e.code}]", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (KeyboardInterrupt, Cancelled):
        if bar:
            bar.close()
        print("error: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    if bar:
        bar.close()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        names = ", ".join(
            f"{s['name']} ({s['volume_ml']:.0f} mL, {s['triangles']:,} triangles)"
            for s in report["structures"]
        )
        print(f"{args.out}: {names} in {report['total_seconds']:.1f} s")
    for note in report["notes"]:
        print(f"note: {note}", file=sys.stderr)
    return 0


def exit_now(status: int) -> NoReturn:
    """End the process with ``status`` once the helpers have stopped and the output is flushed,
    without the interpreter's teardown (torch's alone takes about half a second). Every result
    file is closed by then."""
    stop_helpers()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
