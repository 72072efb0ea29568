"""The meshing helper processes: parallel, light, never orphaned, and safe to stop early."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from gpu_worker.pipeline.meshing import mesh_pool
from gpu_worker.pipeline.meshing.mesh_pool import MeshHelperDiedError, run_all

REPO = Path(__file__).resolve().parents[2]


def helper_facts(_job: object) -> tuple[int, bool, str]:
    """Runs in a helper: its pid, whether torch got imported, its thread cap."""
    import gpu_worker.pipeline.meshing.build  # noqa: F401  (what a real meshing job imports)

    return os.getpid(), "torch" in sys.modules, os.environ.get("OMP_NUM_THREADS", "")


def die(_job: object) -> None:
    """Runs in a helper: ends it the way the kernel's OOM killer would."""
    os.kill(os.getpid(), signal.SIGKILL)


def slow_write(path: Path) -> str:
    """Runs in a helper: takes a while, then writes its file."""
    time.sleep(0.6)
    path.write_text("done")
    return path.name


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0): read its state.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_jobs_run_in_separate_light_helpers_and_results_keep_their_order() -> None:
    seen: list[int] = []
    results = run_all(helper_facts, list(range(4)), 2, lambda i, _r: seen.append(i))
    assert sorted(seen) == [0, 1, 2, 3]
    pids = {pid for pid, _, _ in results}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2
    # Helpers never load torch (nor touch CUDA), and each is held to one thread.
    assert not any(has_torch for _, has_torch, _ in results)
    assert {threads for _, _, threads in results} == {"1"}


def test_one_helper_means_meshing_here() -> None:
    results = run_all(helper_facts, [0, 1], 1, lambda _i, _r: None)
    assert {pid for pid, _, _ in results} == {os.getpid()}


def test_a_helper_that_dies_fails_the_job_retryably_and_the_next_job_gets_new_helpers() -> None:
    with pytest.raises(MeshHelperDiedError, match="retried"):
        run_all(die, [0, 1], 2, lambda _i, _r: None)
    results = run_all(helper_facts, [0, 1], 2, lambda _i, _r: None)
    assert len(results) == 2


def test_stopping_early_waits_for_running_helpers_so_no_file_appears_afterwards(
    tmp_path: Path,
) -> None:
    class StopError(Exception):
        pass

    def cancel(_index: int, _result: str) -> None:
        raise StopError  # what a cancelled job's progress report does

    jobs = [tmp_path / f"{i}.stl" for i in range(8)]
    with pytest.raises(StopError):
        run_all(slow_write, jobs, 2, cancel)
    written = sorted(p.name for p in tmp_path.iterdir())
    time.sleep(1.0)
    # Jobs not started were dropped; none still running writes after the caller moved on.
    assert sorted(p.name for p in tmp_path.iterdir()) == written
    assert len(written) < len(jobs)


def test_helpers_exit_when_their_worker_is_killed(tmp_path: Path) -> None:
    # Given a process that started its helpers, as a worker does at boot
    script = tmp_path / "worker.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys, time
            sys.path.insert(0, {str(REPO)!r})
            from gpu_worker.pipeline.meshing import mesh_pool

            if __name__ == "__main__":
                mesh_pool.start_helpers(2)
                pool = mesh_pool._pool
                print(" ".join(str(p) for p in pool._processes), flush=True)
                time.sleep(60)
            """
        )
    )
    worker = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        helpers = [int(p) for p in worker.stdout.readline().split()]
        assert len(helpers) == 2 and all(alive(p) for p in helpers)
        # When it is killed outright (the time-limit sidecar's SIGKILL, the OOM killer)
        worker.kill()
        worker.wait(10)
        # Then its helpers are gone within a few seconds, not left running
        deadline = time.monotonic() + 3 * mesh_pool.PARENT_CHECK_SECONDS + 2
        while any(alive(p) for p in helpers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(alive(p) for p in helpers)
    finally:
        worker.kill()


def test_the_meshing_subpackage_imports_neither_torch_nor_monai() -> None:
    # Given a fresh interpreter that imports every module of the meshing subpackage (what a
    # helper process runs) and the data types it exchanges with the rest of the pipeline
    modules = sorted(
        f"gpu_worker.pipeline.meshing.{p.stem}"
        for p in (REPO / "gpu_worker" / "pipeline" / "meshing").glob("*.py")
        if p.stem != "__init__"
    )
    assert "gpu_worker.pipeline.meshing.build" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {[*modules, 'gpu_worker.pipeline.types']!r}:\n"
        "    importlib.import_module(name)\n"
        "print(' '.join(m for m in ('torch', 'monai') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    # Then neither torch nor MONAI was loaded along the way
    assert out.stdout.strip() == ""
