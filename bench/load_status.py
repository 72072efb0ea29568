"""Load test: many concurrent pollers on /status, as browsers would poll during a busy day.

Starts a private redis-server and the real gunicorn API (or targets ``--url``), creates one
queued job per poller, then has every poller GET its job's /status every 2 s for ``--seconds``.
Traffic goes to 127.0.0.1 only; the run is bounded in time and stops by itself.

    .venv/bin/python bench/load_status.py --pollers 500 --seconds 30
    .venv/bin/python bench/load_status.py --pollers 500 --seconds 30 --storage s3   # SeaweedFS
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.data import downsampled_brain  # noqa: E402
from tests.support.redis_server import RedisServer  # noqa: E402
from tests.support.s3_server import S3Server  # noqa: E402
from tests.support.service import ServiceStack  # noqa: E402


def poll(base: str, job_id: str, until: float, interval: float, out: list, lock) -> None:
    """Poll one job until ``until``; record (status code, latency) pairs."""
    session = requests.Session()
    results = []
    next_at = time.monotonic()
    while next_at < until:
        started = time.monotonic()
        try:
            code = session.get(f"{base}status/{job_id}", timeout=10).status_code
        except requests.RequestException as e:
            code = type(e).__name__
        results.append((code, time.monotonic() - started))
        next_at += interval
        time.sleep(max(next_at - time.monotonic(), 0))
    with lock:
        out.extend(results)


def main() -> None:
    """Run the load and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pollers", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--url", help="an already running API (default: start a private one)")
    parser.add_argument(
        "--storage",
        choices=("local", "s3"),
        default="local",
        help="back end of the private API (s3: a private SeaweedFS)",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        server = stack = s3 = None
        base = args.url
        if base is None:
            server = RedisServer(root / "redis", persistent=False).start()
            env = {"MRIMESH_UPLOAD_RATE_LIMIT": "100000 per hour"}
            if args.storage == "s3":
                s3 = S3Server(root / "s3").start()
                env.update(s3.env())
            stack = ServiceStack(
                redis_url=server.url,
                data_dir=root / "data",
                log_dir=root / "logs",
                extra_env=env,
            )
            stack.start_api()
            base = stack.base_url
        try:
            scan = downsampled_brain(root / "scan.nii.gz", step=4)
            job_ids = []
            for _ in range(args.pollers):
                with scan.open("rb") as f:
                    response = requests.post(f"{base}upload", files={"file": ("s.nii.gz", f)})
                response.raise_for_status()
                job_ids.append(response.json()["job_id"])
            print(f"created {len(job_ids)} queued jobs; polling for {args.seconds:g} s")
            results: list = []
            lock = threading.Lock()
            until = time.monotonic() + args.seconds
            threads = [
                threading.Thread(
                    target=poll, args=(base, j, until, args.interval, results, lock), daemon=True
                )
                for j in job_ids
            ]
            for i, thread in enumerate(threads):
                thread.start()
                if i % 50 == 49:
                    time.sleep(0.1)  # spread the pollers over the interval like real browsers
            for thread in threads:
                thread.join(args.seconds + 30)
        finally:
            if stack is not None:
                stack.stop_all()
            if server is not None:
                server.stop()
            if s3 is not None:
                s3.stop()

    codes = Counter(code for code, _ in results)
    latencies = sorted(latency for _, latency in results)
    errors = sum(n for code, n in codes.items() if code != 200)
    print(
        f"pollers: {args.pollers}, requests: {len(results)}, "
        f"rate: {len(results) / args.seconds:.0f} req/s"
    )
    print(f"status codes: {dict(codes)}  errors: {errors}")
    if latencies:
        p = lambda q: latencies[min(int(q * len(latencies)), len(latencies) - 1)] * 1000  # noqa: E731
        print(
            f"latency ms: median {statistics.median(latencies) * 1000:.1f}, p95 {p(0.95):.1f}, "
            f"p99 {p(0.99):.1f}, max {latencies[-1] * 1000:.1f}"
        )


if __name__ == "__main__":
    main()
