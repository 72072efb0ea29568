"""mrimesh against the bare brain extractor it builds on, side by side on one scan.

Three ways to spend a scan, timed as whole processes, alternating run by run so a busy machine
slows all of them alike:

* ``deepbet-cli -i SCAN -o brain.nii.gz -m mask.nii.gz -g``: the brain mask alone (the unit);
* ``python -m gpu_worker SCAN --out DIR``: the whole pipeline from a cold process;
* a warm service job: upload to ``/upload`` of a running service (Redis, gunicorn API, one
  Dramatiq worker that has already done a job) until ``/download`` can serve the zip.

Each is run once untimed first (page cache, the worker's first job), then ``--runs`` times.
Figures are medians; "÷ deepbet" is the median of each round's own ratio. Peak memory is the
largest sum of resident memory over the process tree (the CLI and its meshing helpers; the
worker, its Dramatiq processes, its sidecar and its meshing helpers), sampled every 50 ms.

    .venv/bin/python bench/vs_deepbet.py                 # MNI152 2009 head of ../shared/data
    .venv/bin/python bench/vs_deepbet.py --runs 7 --scan other_head.nii.gz
    .venv/bin/python bench/vs_deepbet.py --device cuda   # both tools on the GPU (no -g)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mrimesh.keys import Keys  # noqa: E402
from tests.support.redis_server import RedisServer  # noqa: E402
from tests.support.service import ServiceStack  # noqa: E402

#: The largest real head beside the checkout: MNI152 2009, 193×229×193, 1 mm, with skull.
DEFAULT_SCAN = ROOT.parent / "shared" / "data" / "MNI152_2009_template.nii.gz"
#: How often the process tree's memory is sampled, in seconds.
SAMPLE_SECONDS = 0.05
#: How often a service job's status is polled, in seconds.
POLL_SECONDS = 0.05


class PeakMemory:
    """Samples the summed RSS of a process and all its descendants in a thread."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _tree_rss(self) -> int:
        try:
            root = psutil.Process(self.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0
        total = 0
        for p in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                total += p.memory_info().rss
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._tree_rss())
            self._stop.wait(SAMPLE_SECONDS)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Tool:
    """One way of processing the scan, and what its runs measured."""

    name: str
    run: Callable[[], tuple[float, int]]  #: one timed run -> (seconds, peak bytes)
    seconds: list[float] = field(default_factory=list)
    peaks: list[int] = field(default_factory=list)
    steps: list[dict[str, float]] = field(default_factory=list)


def timed_process(
    argv: list[str], env: dict[str, str] | None = None, cwd: Path = ROOT
) -> tuple[float, int]:
    """Run ``argv`` in ``cwd`` to completion; its wall-clock seconds and its tree's peak RSS."""
    start = time.perf_counter()
    process = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    with PeakMemory(process.pid) as memory:
        _, err = process.communicate()
    seconds = time.perf_counter() - start
    if process.returncode != 0:
        raise RuntimeError(f"{argv[:3]} failed ({process.returncode}): {err.decode()[-2000:]}")
    return seconds, memory.peak


def main() -> None:
    """Run the rounds and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scan", type=Path, default=DEFAULT_SCAN)
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each (default 5)")
    parser.add_argument("--device", default="cpu", help="cpu (deepbet-cli -g) or cuda")
    parser.add_argument("--no-service", action="store_true", help="skip the warm service job")
    parser.add_argument("--json", type=Path, default=None, help="also write every run here")
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="another checkout (e.g. a git worktree of older code): its CLI joins the rounds",
    )
    args = parser.parse_args()
    scan = args.scan.resolve()
    if not scan.is_file():
        sys.exit(f"no scan at {scan}")
    bin_dir = Path(sys.executable).parent
    deepbet = shutil.which("deepbet-cli", path=str(bin_dir)) or shutil.which("deepbet-cli")
    if deepbet is None:
        sys.exit("deepbet-cli is not installed (pip install deepbet)")
    gpu = args.device != "cpu"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MRIMESH_")}
    env["MRIMESH_DEVICE"] = args.device

    tmp = Path(tempfile.mkdtemp(prefix="vs-deepbet-"))
    scan.read_bytes()  # into the page cache
    tools: list[Tool] = []

    def run_deepbet() -> tuple[float, int]:
        argv = [deepbet, "-i", str(scan), "-o", str(tmp / "brain.nii.gz")]
        argv += ["-m", str(tmp / "mask.nii.gz")] + ([] if gpu else ["-g"])
        return timed_process(argv, env)

    cli = Tool("python -m gpu_worker (whole pipeline)", lambda: (0.0, 0))

    def run_cli() -> tuple[float, int]:
        out = tmp / "cli-out"
        shutil.rmtree(out, ignore_errors=True)
        result = timed_process([sys.executable, "-m", "gpu_worker", str(scan), "--out", str(out),
                                "--quiet"], env)  # fmt: skip
        cli.steps.append(json.loads((out / "report.json").read_text())["steps"])
        return result

    cli.run = run_cli
    baseline = None
    if args.baseline is not None:
        base_root = args.baseline.resolve()
        baseline = Tool(f"python -m gpu_worker ({base_root.name})", lambda: (0.0, 0))

        def run_baseline() -> tuple[float, int]:
            assert baseline is not None
            out = tmp / "baseline-out"
            shutil.rmtree(out, ignore_errors=True)
            argv = [sys.executable, "-m", "gpu_worker", str(scan), "--out", str(out), "--quiet"]
            result = timed_process(argv, env, cwd=base_root)
            baseline.steps.append(json.loads((out / "report.json").read_text())["steps"])
            return result

        baseline.run = run_baseline
    tools.append(
        Tool("deepbet-cli -g (brain mask only)" if not gpu else "deepbet-cli", run_deepbet)
    )
    tools.append(cli)
    if baseline is not None:
        tools.append(baseline)

    server = stack = None
    if not args.no_service:
        server = RedisServer(tmp / "redis", persistent=False).start()
        stack = ServiceStack(
            redis_url=server.url,
            data_dir=tmp / "data",
            log_dir=tmp / "logs",
            extra_env={"MRIMESH_UPLOAD_RATE_LIMIT": "100000 per hour",
                       "MRIMESH_DEVICE": args.device},
        )  # fmt: skip
        server_client = redis.Redis.from_url(server.url)
        service = Tool("warm service job (upload -> zip)", lambda: (0.0, 0))

        def run_service() -> tuple[float, int]:
            assert stack is not None
            worker = stack.processes["worker"]
            with PeakMemory(worker.pid) as memory:
                start = time.perf_counter()
                job_id = stack.upload(scan).json()["job_id"]
                while True:
                    body = stack.get(f"status/{job_id}").json()
                    if body["status"] == "completed":
                        break
                    if body["status"] in {"failed", "cancelled", "expired"}:
                        raise RuntimeError(f"service job {body['status']}: {body.get('error')}")
                    time.sleep(POLL_SECONDS)
                head = stack.get(f"download/{job_id}", stream=True)
                head.close()
                seconds = time.perf_counter() - start
            if head.status_code != 200:
                raise RuntimeError(f"/download answered {head.status_code}")
            # The worker's own record of the job: its steps and its total inside the worker.
            record = json.loads(server_client.lindex(Keys().timings_jobs, 0))
            service.steps.append({**record["steps"], "worker_total": record["total"]})
            return seconds, memory.peak

        service.run = run_service
        tools.append(service)
    try:
        if stack is not None:
            stack.start_api()
            stack.start_worker("worker")
            stack.wait_for_workers(1, timeout=300)
        load_before = os.getloadavg()
        cores = len(os.sched_getaffinity(0))
        print(f"scan: {scan} ({scan.stat().st_size / 1e6:.1f} MB); device {args.device}; "
              f"{cores} cores; load average {load_before[0]:.1f}")  # fmt: skip
        for tool in tools:  # warm-up: page cache, the worker's first job
            tool.run()
            tool.steps.clear()
        for round_ in range(args.runs):
            # Alternate the order each round so no tool always runs right after another.
            order = tools if round_ % 2 == 0 else tools[::-1]
            for tool in order:
                seconds, peak = tool.run()
                tool.seconds.append(seconds)
                tool.peaks.append(peak)
            line = "  ".join(f"{t.seconds[-1]:6.2f} s" for t in tools)
            print(f"round {round_ + 1}/{args.runs}: {line}  (load {os.getloadavg()[0]:.1f})")
        load_after = os.getloadavg()
    finally:
        if stack is not None:
            stack.stop_all()
        if server is not None:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    unit = tools[0].seconds
    print()
    print("| what | median s | min-max s | ÷ deepbet (median of rounds) | peak RSS GB |")
    print("|---|---|---|---|---|")
    for tool in tools:
        ratios = [s / u for s, u in zip(tool.seconds, unit, strict=True)]
        print(
            f"| {tool.name} | {statistics.median(tool.seconds):.2f} | "
            f"{min(tool.seconds):.2f}-{max(tool.seconds):.2f} | "
            f"**{statistics.median(ratios):.2f}** | {max(tool.peaks) / 1e9:.2f} |"
        )
    for tool in tools:
        if tool.steps:
            names = list(dict.fromkeys(k for s in tool.steps for k in s))
            parts = ", ".join(
                f"{k} {statistics.median(s.get(k, 0.0) for s in tool.steps):.2f}" for k in names
            )
            print(f"{tool.name} steps (median s): {parts}")
    print(f"load average (1 min) before {load_before[0]:.1f}, after {load_after[0]:.1f}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {t.name: {"seconds": t.seconds, "peaks": t.peaks, "steps": t.steps} for t in tools},
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
