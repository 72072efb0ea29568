"""How honest are the ETAs? Real jobs through the real service, polled like the page polls.

Starts a private redis-server, the gunicorn API, ``--workers`` real Dramatiq workers and the
janitor. Runs ``--warmup`` jobs one by one (mixed sizes) so the service has history, then submits
``--jobs`` jobs of several sizes at once (more than the workers can take), polls every job's
/status every 2 s, and afterwards compares every ETA reading with the time that really remained.
A reading is good when it is within ±20 % or ±3 s of the truth; a ``null`` ETA counts as wrong.

    .venv/bin/python bench/eta_accuracy.py --workers 1 --jobs 8
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.data import downsampled_brain  # noqa: E402
from tests.support.redis_server import RedisServer  # noqa: E402
from tests.support.service import ServiceStack  # noqa: E402

#: Downsampling steps of the MNI152 T1 used as inputs (1 = 1 mm, 197×233×189 voxels).
SIZES = (1, 2, 3)


def _epoch(iso: str) -> float:
    return datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def poll_job(stack: ServiceStack, job_id: str, readings: list, lock: threading.Lock) -> None:
    """Poll one job every 2 s until it ends; keep (time, status, eta) readings and the end."""
    mine = []
    while True:
        at = time.time()
        body = stack.get(f"status/{job_id}").json()
        if body["status"] in {"completed", "failed", "cancelled", "expired"}:
            # finished_at has whole seconds: take the middle of that second
            end = _epoch(body["finished_at"]) + 0.5 if body.get("finished_at") else at
            break
        mine.append((at, body["status"], body["eta_seconds"]))
        time.sleep(max(2.0 - (time.time() - at), 0))
    with lock:
        readings.extend((job_id, t, status, eta, end, body["status"]) for t, status, eta in mine)


def _slot_overheads(server: RedisServer, job_ids: list[str]) -> tuple[list[float], list[float]]:
    """Idle gaps between consecutive jobs, and time inside jobs outside any step (seconds)."""
    client = server.client()
    records = []
    for job_id in set(job_ids):
        raw = {k.decode(): v.decode() for k, v in client.hgetall(f"mrimesh:job:{job_id}").items()}
        if raw.get("finished_at") and raw.get("started_at"):
            steps = json.loads(raw.get("completed_steps") or "{}")
            records.append((float(raw["started_at"]), float(raw["finished_at"]), steps))
    records.sort()
    gaps = [b[0] - a[1] for a, b in itertools.pairwise(records) if b[0] > a[1]]
    overheads = [(end - start) - sum(steps.values()) for start, end, steps in records]
    return gaps, overheads


def _print_jobs(server: RedisServer) -> None:
    """Each finished job's input size, total and step times (oldest first), from the history."""
    records = [json.loads(r) for r in server.client().lrange("mrimesh:timings:jobs", 0, -1)]
    for record in reversed(records):
        steps = ", ".join(f"{k} {v:.2f}" for k, v in record.get("steps", {}).items())
        print(f"  job {record.get('voxels', 0):>9,} voxels: {record['total']:.2f} s ({steps})")


def main() -> None:
    """Run the benchmark and print the share of good ETA readings."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument(
        "--show-jobs", action="store_true", help="print each finished job's time per step"
    )
    parser.add_argument(
        "--mesh-processes",
        type=int,
        default=None,
        help="MRIMESH_MESH_PROCESSES of each worker (default: cores ÷ workers, as docs advise)",
    )
    args = parser.parse_args()

    cores = len(os.sched_getaffinity(0))
    mesh_processes = args.mesh_processes or max(1, cores // args.workers)
    print(f"{cores} cores; {args.workers} worker(s) with {mesh_processes} meshing helper(s) each")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        scans = {s: downsampled_brain(root / f"brain_{s}mm.nii.gz", step=s) for s in SIZES}
        server = RedisServer(root / "redis", persistent=False).start()
        stack = ServiceStack(
            redis_url=server.url,
            data_dir=root / "data",
            log_dir=root / "logs",
            extra_env={
                "MRIMESH_UPLOAD_RATE_LIMIT": "100000 per hour",
                "MRIMESH_MESH_PROCESSES": str(mesh_processes),
            },
        )
        try:
            stack.start_api()
            for i in range(args.workers):
                stack.start_worker(f"worker{i}")
            stack.start_janitor()
            stack.wait_for_workers(args.workers, timeout=300)
            print(f"{args.workers} worker(s) live; warming up with {args.warmup} jobs")
            for i in range(args.warmup):
                job_id = stack.upload(scans[SIZES[i % len(SIZES)]]).json()["job_id"]
                stack.wait_for_status(job_id, {"completed", "failed"}, timeout=600)

            readings: list = []
            lock = threading.Lock()
            threads = []
            started = time.time()
            for i in range(args.jobs):
                job_id = stack.upload(scans[SIZES[i % len(SIZES)]]).json()["job_id"]
                thread = threading.Thread(target=poll_job, args=(stack, job_id, readings, lock))
                thread.start()
                threads.append(thread)
            for thread in threads:
                thread.join()
            wall = time.time() - started
            stats = stack.get("stats").json()
            gaps, overheads = _slot_overheads(server, [r[0] for r in readings])
            if args.show_jobs:
                _print_jobs(server)
        finally:
            stack.stop_all()
            server.stop()

    def good(eta: float | None, truth: float) -> bool:
        return eta is not None and abs(eta - truth) <= max(0.2 * truth, 3.0)

    rows = [(status, eta, end - t) for _, t, status, eta, end, final in readings]
    by_status: dict[str, list[bool]] = {}
    for status, eta, truth in rows:
        by_status.setdefault(status, []).append(good(eta, truth))
    everything = [ok for oks in by_status.values() for ok in oks]
    errors = [abs(eta - truth) / max(truth, 1) for _, eta, truth in rows if eta is not None]
    print(
        f"jobs: {args.jobs} on {args.workers} worker(s) after {args.warmup} warm-up jobs; "
        f"wall {wall:.0f} s; mean job {stats['average_processing_time_seconds']} s"
    )
    print(
        f"ETA readings: {len(everything)}; within ±20 % or ±3 s: "
        f"{100 * sum(everything) / max(len(everything), 1):.1f} %"
    )
    for status, oks in sorted(by_status.items()):
        print(f"  {status:<10} {len(oks):4d} readings, {100 * sum(oks) / len(oks):5.1f} % good")
    if gaps:
        print(
            f"idle gap between jobs: median {statistics.median(gaps):.2f} s; "
            f"time outside steps per job: median {statistics.median(overheads):.2f} s"
        )
    if errors:
        print(f"median relative error {100 * statistics.median(errors):.1f} %")
        signed = [(eta - truth) / max(truth, 1) for _, eta, truth in rows if eta is not None]
        print(
            f"mean signed error {100 * statistics.fmean(signed):+.1f} % (negative: ETAs too short)"
        )


if __name__ == "__main__":
    main()
