"""docker/claim-gpu.sh hands each worker container a GPU no other worker holds.

The script runs for real, with a fake nvidia-smi and a lock directory in tmp_path standing in for
the volume the worker containers share.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "docker" / "claim-gpu.sh"
GPUS = ("GPU-11111111-aaaa-bbbb-cccc-000000000000", "GPU-22222222-aaaa-bbbb-cccc-000000000000")
#: The "worker": print the GPU it was given, then hold it (exec, so one process holds the lock).
WORKER = ["sh", "-c", 'echo "gpu=${CUDA_VISIBLE_DEVICES}"; exec sleep 60']
#: Seconds any one step may take before the test gives up.
TIMEOUT_SECONDS = 10


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\n" + "".join(f"echo '{uuid}'\n" for uuid in GPUS))
    fake.chmod(0o755)
    return {
        "PATH": os.environ["PATH"],
        "NVIDIA_SMI": str(fake),
        "GPU_LOCK_DIR": str(tmp_path / "locks"),
        "GPU_CLAIM_RETRY_SECONDS": "0.2",
    }


@pytest.fixture
def workers() -> Iterator[list[subprocess.Popen]]:
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        process.kill()
        process.wait()


def start(env: dict[str, str], workers: list[subprocess.Popen]) -> subprocess.Popen:
    process = subprocess.Popen(
        ["bash", str(SCRIPT), *WORKER],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    workers.append(process)
    return process


def read_until(stream, text: str) -> str:
    """What ``stream`` printed up to and including ``text``; fails after TIMEOUT_SECONDS."""
    seen = ""
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while text not in seen:
        ready, _, _ = select.select([stream], [], [], max(deadline - time.monotonic(), 0))
        chunk = os.read(stream.fileno(), 4096).decode() if ready else ""
        assert chunk, f"no {text!r} within {TIMEOUT_SECONDS} s; got {seen!r}"
        seen += chunk
    return seen


def claimed(process: subprocess.Popen) -> str:
    """The GPU the worker was started with."""
    line = read_until(process.stdout, "\n").splitlines()[0]
    assert line.startswith("gpu="), line
    return line.removeprefix("gpu=")


def test_two_workers_get_two_different_gpus(env, workers):
    first, second = start(env, workers), start(env, workers)
    assert {claimed(first), claimed(second)} == set(GPUS)


def test_a_spare_worker_waits_and_takes_the_gpu_a_dead_worker_frees(env, workers):
    # given both GPUs held
    holders = {claimed(p): p for p in (start(env, workers), start(env, workers))}
    # when a third worker starts, it waits instead of doubling up on a GPU
    spare = start(env, workers)
    read_until(spare.stderr, "held by other workers")
    assert spare.poll() is None
    # then when one holder dies, the kernel frees its lock and the spare takes that GPU
    freed = GPUS[0]
    holders[freed].send_signal(signal.SIGKILL)
    holders[freed].wait()
    assert claimed(spare) == freed


def test_an_operator_pinned_device_is_used_as_is(env, workers):
    env = {**env, "CUDA_VISIBLE_DEVICES": "3", "NVIDIA_SMI": "/nonexistent/nvidia-smi"}
    assert claimed(start(env, workers)) == "3"


def test_cpu_mode_claims_nothing(env, workers):
    env = {**env, "MRIMESH_DEVICE": "cpu", "NVIDIA_SMI": "/nonexistent/nvidia-smi"}
    assert claimed(start(env, workers)) == ""


def test_no_visible_gpu_is_an_error_not_a_silent_cpu_run(env, tmp_path):
    empty = tmp_path / "no-gpus"
    empty.write_text("#!/bin/sh\nexit 0\n")
    empty.chmod(0o755)
    done = subprocess.run(
        ["bash", str(SCRIPT), *WORKER],
        env={**env, "NVIDIA_SMI": str(empty)},
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
    )
    assert done.returncode == 1
    assert "no GPU visible" in done.stderr
    assert "gpu=" not in done.stdout


def test_a_failing_nvidia_smi_is_reported(env):
    done = subprocess.run(
        ["bash", str(SCRIPT), *WORKER],
        env={**env, "NVIDIA_SMI": "false"},
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
    )
    assert done.returncode == 1
    assert "cannot list GPUs" in done.stderr
