"""Bench: uploads and downloads through the S3 back end, each beside its direct counterpart.

Starts a private redis-server, a private SeaweedFS (tests/support/s3_server.py) and two real
gunicorn APIs on them: one that redirects downloads to presigned links, one that streams them
(``MRIMESH_S3_PROXY_DOWNLOADS=1``). Then, alternating rounds in one run:

1. upload one file of ``--mib`` MiB (a valid NIfTI header, then random bytes) through
   ``POST /upload``, sampling the API processes' resident memory every 20 ms; and upload the same
   file straight to the same bucket with boto3 (same part size and concurrency as the service);
2. download a result of the same size through ``GET /download/<id>``: once following the 302 to
   the presigned link, once streamed by the API; wall time and the API processes' CPU seconds.

Traffic stays on 127.0.0.1. Run: ``.venv/bin/python bench/s3_upload.py --mib 1024 --rounds 2``.
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import nibabel as nib
import numpy as np
import redis
import requests
from boto3.s3.transfer import TransferConfig

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mrimesh.config import Settings  # noqa: E402
from mrimesh.lifecycle import Lifecycle  # noqa: E402
from mrimesh.outcome import JobOutcome  # noqa: E402
from mrimesh.storage import RESULT_ZIP, open_storage  # noqa: E402
from tests.support.redis_server import RedisServer  # noqa: E402
from tests.support.s3_server import S3Server  # noqa: E402
from tests.support.service import ServiceStack  # noqa: E402

MIB = 1024**2
_PAGE = os.sysconf("SC_PAGE_SIZE")
_TICKS = os.sysconf("SC_CLK_TCK")


def make_scan(path: Path, size: int) -> Path:
    """A file the upload check accepts (a small gzipped NIfTI) padded with random bytes."""
    image = nib.Nifti1Image(np.zeros((64, 64, 64), np.uint8), np.eye(4))
    head = gzip.compress(image.to_bytes())
    with path.open("wb") as out:
        out.write(head)
        left = size - len(head)
        while left > 0:
            chunk = os.urandom(min(left, 8 * MIB))
            out.write(chunk)
            left -= len(chunk)
    return path


class MultipartBody(io.RawIOBase):
    """A ``multipart/form-data`` body read from disk as it is sent, with a known length."""

    def __init__(self, path: Path, field: str = "file", filename: str = "scan.nii.gz"):
        self.boundary = uuid.uuid4().hex
        head = (
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{field}"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        tail = f"\r\n--{self.boundary}--\r\n".encode()
        self.parts = [io.BytesIO(head), path.open("rb"), io.BytesIO(tail)]
        self.length = len(head) + path.stat().st_size + len(tail)

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def __len__(self) -> int:
        return self.length

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = MIB if size is None or size < 0 else size
        while self.parts:
            data = self.parts[0].read(size)
            if data:
                return data
            self.parts.pop(0).close()
        return b""


def pin(pids: list[int], cpus: set[int]) -> None:
    """Keep every thread of ``pids`` (and threads they start later) on ``cpus``."""
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").iterdir():
            os.sched_setaffinity(int(task.name), cpus)


def api_pids(stack: ServiceStack) -> list[int]:
    """The gunicorn master and its workers."""
    master = stack.processes["api"].pid
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [master, *(int(c) for c in children)]


def rss(pid: int) -> int:
    """Resident bytes of one process."""
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of the processes so far."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / _TICKS


class RssSampler:
    """Peak resident memory of each process while a block runs."""

    def __init__(self, pids: list[int], every: float = 0.02):
        self.pids, self.every = pids, every
        self.start = {pid: rss(pid) for pid in pids}
        self.peak = dict(self.start)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in self.pids:
                self.peak[pid] = max(self.peak[pid], rss(pid))
            time.sleep(self.every)

    @property
    def growth(self) -> int:
        """The largest growth of any one process, in bytes."""
        return max(self.peak[pid] - self.start[pid] for pid in self.pids)


def upload_through_api(stack: ServiceStack, scan: Path) -> tuple[float, int, float, str]:
    """Seconds, peak RSS growth of one API process, the API's CPU seconds, the new job's id."""
    body = MultipartBody(scan)
    pids = api_pids(stack)
    cpu_before = cpu_seconds(pids)
    with RssSampler(pids) as sampler:
        started = time.perf_counter()
        answer = requests.post(
            stack.base_url + "upload",
            data=body,
            headers={"Content-Type": body.content_type},
            timeout=600,
        )
        seconds = time.perf_counter() - started
    answer.raise_for_status()
    return seconds, sampler.growth, cpu_seconds(pids) - cpu_before, answer.json()["job_id"]


def upload_direct(s3: S3Server, scan: Path, settings: Settings) -> float:
    """Seconds for boto3's upload_file of the same file, as the service configures it."""
    transfer = TransferConfig(
        multipart_threshold=settings.s3_part_bytes,
        multipart_chunksize=settings.s3_part_bytes,
        max_concurrency=settings.s3_concurrency,
    )
    key = f"bench/{uuid.uuid4()}"
    started = time.perf_counter()
    s3.client().upload_file(str(scan), s3.bucket, key, Config=transfer)
    seconds = time.perf_counter() - started
    s3.client().delete_object(Bucket=s3.bucket, Key=key)
    return seconds


def download(stack: ServiceStack, job_id: str) -> tuple[float, float, int, int]:
    """Seconds, API CPU seconds, bytes received and the API's first answer's status code."""
    pids = api_pids(stack)
    cpu_before = cpu_seconds(pids)
    started = time.perf_counter()
    first = requests.get(
        f"{stack.base_url}download/{job_id}", allow_redirects=False, stream=True, timeout=30
    )
    received = 0
    answer = first
    if first.status_code == 302:
        first.close()
        answer = requests.get(first.headers["Location"], stream=True, timeout=600)
    for chunk in answer.iter_content(MIB):
        received += len(chunk)
    seconds = time.perf_counter() - started
    return seconds, cpu_seconds(pids) - cpu_before, received, first.status_code


def completed_job(settings: Settings, result: Path) -> str:
    """A job that completed with ``result`` as its zip (the lifecycle's own transitions)."""
    lifecycle = Lifecycle(redis.Redis.from_url(settings.redis_url), settings)
    job_id = str(uuid.uuid4())
    lifecycle.create(job_id, input_kind="nifti", input_bytes=1, input_voxels=1)
    lifecycle.start(job_id, worker_id="bench:1")
    open_storage(settings).put(job_id, RESULT_ZIP, result)
    lifecycle.complete(job_id, JobOutcome(voxels=1, summary={}), step_seconds={})
    return job_id


def main() -> None:
    """Run the rounds and print a side-by-side table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mib", type=int, default=1024, help="size of the file, MiB")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--skip-uploads", action="store_true", help="measure downloads only")
    parser.add_argument(
        "--store-own-cpu",
        action="store_true",
        help="pin SeaweedFS to the last CPU and everything else to the others, as if the store "
        "were on its own host",
    )
    args = parser.parse_args()
    size = args.mib * MIB

    with tempfile.TemporaryDirectory(prefix="s3-bench-") as tmp:
        root = Path(tmp)
        redis_server = RedisServer(root / "redis", persistent=False).start()
        s3 = S3Server(root / "s3").start()
        env = {
            **s3.env(),
            "MRIMESH_MAX_UPLOAD_BYTES": str(size + 64 * MIB),
            "MRIMESH_API_WORKERS": "1",
        }
        links = ServiceStack(
            redis_url=redis_server.url, data_dir=root / "api", log_dir=root / "logs",
            extra_env=env,
        )  # fmt: skip
        proxied = ServiceStack(
            redis_url=redis_server.url, data_dir=root / "api-proxied", log_dir=root / "logs-p",
            extra_env={**env, "MRIMESH_S3_PROXY_DOWNLOADS": "1"},
        )  # fmt: skip
        settings = Settings.from_env({}, redis_url=redis_server.url, **s3.settings_overrides())
        try:
            links.start_api()
            proxied.start_api()
            scan = make_scan(root / "scan.nii.gz", size)
            if args.store_own_cpu:
                cpus = sorted(os.sched_getaffinity(0))
                assert s3.process is not None and len(cpus) > 1
                pin([s3.process.pid], {cpus[-1]})
                pin([os.getpid(), *api_pids(links), *api_pids(proxied)], set(cpus[:-1]))
                print(f"SeaweedFS on CPU {cpus[-1]}; API and clients on {cpus[:-1]}")
            print(f"file: {args.mib} MiB; parts {settings.s3_part_bytes // MIB} MiB x "
                  f"{settings.s3_concurrency}; API: 1 gunicorn worker, 8 threads")  # fmt: skip
            api_times, direct_times, growths = [], [], []
            for _ in range(0 if args.skip_uploads else args.rounds):
                seconds, growth, cpu, job_id = upload_through_api(links, scan)
                api_times.append(seconds)
                growths.append(growth)
                direct_times.append(upload_direct(s3, scan, settings))
                open_storage(settings).delete_job(job_id)
                print(
                    f"  upload: API {api_times[-1]:.2f} s (RSS +{growth / MIB:.1f} MiB, "
                    f"API CPU {cpu:.2f} s), "
                    f"direct boto3 {direct_times[-1]:.2f} s, "
                    f"ratio {api_times[-1] / direct_times[-1]:.2f}"
                )
            result_job = completed_job(settings, scan)
            link_runs, proxy_runs = [], []
            for _ in range(args.rounds):
                link_runs.append(download(links, result_job))
                proxy_runs.append(download(proxied, result_job))
                for name, run in (
                    ("presigned link", link_runs[-1]),
                    ("through API", proxy_runs[-1]),
                ):
                    seconds, cpu, received, status = run
                    assert received == size, (name, received)
                    print(f"  download via {name}: {seconds:.2f} s, API CPU {cpu:.2f} s "
                          f"(first answer {status})")  # fmt: skip
        finally:
            links.stop_all()
            proxied.stop_all()
            s3.stop()
            redis_server.stop()

    med = statistics.median
    print()
    print("| measure | through the API | direct / presigned | ratio |")
    print("|---|---|---|---|")
    if api_times:
        print(
            f"| upload {args.mib} MiB, s (median of {args.rounds}) | {med(api_times):.2f} | "
            f"{med(direct_times):.2f} (boto3 upload_file) | "
            f"{med(api_times) / med(direct_times):.2f} |"
        )
        print(f"| API RSS growth during upload, MiB (max) | {max(growths) / MIB:.1f} | | |")
    print(
        f"| download {args.mib} MiB, s | {med(r[0] for r in proxy_runs):.2f} (streamed) | "
        f"{med(r[0] for r in link_runs):.2f} (302 + presigned GET) | |"
    )
    print(
        f"| API CPU per download, s | {med(r[1] for r in proxy_runs):.2f} | "
        f"{med(r[1] for r in link_runs):.2f} | |"
    )


if __name__ == "__main__":
    main()
