"""Helper processes that mesh structures side by side.

Marching cubes, quadric decimation and OBJ formatting hold the GIL, so threads cannot mesh two
structures at once; processes can. A worker keeps one small pool for its whole life (started by
:func:`gpu_worker.pipeline.models.preload`, so the first job does not wait for it):

* started with ``spawn``, never ``fork``: the worker may hold a CUDA context, and the helpers
  import only numpy, SciPy, VTK and the mesh writers (never torch);
* each helper dies with its parent (``PR_SET_PDEATHSIG``, :mod:`mrimesh.proc`; ``kill -9`` of
  the worker by the time-limit sidecar included), so no helper outlives the job it worked for.
  Helpers are started by the thread that calls :func:`start_helpers` or :func:`run_all` (the
  worker's main thread, or its Dramatiq worker thread after a broken pool), which live as long
  as the worker process;
* a helper that dies mid-task (killed, out of memory) breaks the pool: the job fails with a
  retryable error and the next job gets a fresh pool.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from multiprocessing.util import Finalize
from typing import TypeVar

from gpu_worker.pipeline.cores import cpu_cores
from mrimesh.proc import die_with_parent

logger = logging.getLogger(__name__)

Job = TypeVar("Job")
Result = TypeVar("Result")

#: Most helpers a worker starts when the count is left to the core count (the default model
#: meshes three structures; more helpers than structures would sit idle).
MAX_AUTOMATIC_HELPERS = 4
#: How often a helper checks that its parent is still alive, in seconds, where the kernel cannot
#: signal it (not Linux).
PARENT_CHECK_SECONDS = 1.0
#: How much lower the helpers' scheduling priority is than their parent's (``nice``).
HELPER_NICENESS = 5
#: Thread-count variables pinned to 1 in helpers: each helper is one core's worth of work.
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_pool_size = 0


class MeshHelperDiedError(RuntimeError):
    """A meshing helper process died mid-task (the job may be retried)."""


def helper_count(setting: int) -> int:
    """Helpers for a ``mesh_processes`` setting: 0 means one per core, at most 4."""
    if setting > 0:
        return setting
    return max(1, min(cpu_cores(), MAX_AUTOMATIC_HELPERS))


def _watch_parent(parent_pid: int) -> None:
    while True:
        time.sleep(PARENT_CHECK_SECONDS)
        if os.getppid() != parent_pid:
            os._exit(0)


def _init_helper(parent_pid: int) -> None:
    for name in _THREAD_VARIABLES:
        os.environ[name] = "1"
    # Below the parent: helpers starting up (importing) or meshing never slow the parent's own
    # work (its imports and networks, writing the volumes); they get every core it leaves idle.
    os.nice(HELPER_NICENESS)
    # Ctrl-C reaches the whole process group; the parent decides what stops, not the helpers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if not die_with_parent(parent_pid):
        threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()


def _warm_up() -> int:
    """Import what meshing needs, so the first job's structures do not pay for it."""
    import gpu_worker.pipeline.meshing.build  # noqa: F401
    from gpu_worker.pipeline.meshing.mesh import load_backends

    load_backends()

    return os.getpid()


def _get_pool(helpers: int) -> ProcessPoolExecutor:
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size != helpers:
            if _pool is not None:
                _pool.shutdown(wait=False, cancel_futures=True)
            _pool = ProcessPoolExecutor(
                max_workers=helpers,
                mp_context=get_context("spawn"),
                initializer=_init_helper,
                initargs=(os.getpid(),),
            )
            _pool_size = helpers
            # A process that multiprocessing started (a Dramatiq worker) joins all its children
            # when it exits, before the executor is told to stop: without this, that exit
            # would wait forever for helpers that wait for work. The priority puts it before
            # the queues' own exit finalizers (priority 10), which would drop the stop signal.
            Finalize(_pool, _pool.shutdown, kwargs={"cancel_futures": True}, exitpriority=100)
        return _pool


def _discard_pool(broken: ProcessPoolExecutor) -> None:
    global _pool
    with _lock:
        if _pool is broken:
            _pool = None
    broken.shutdown(wait=False, cancel_futures=True)


def start_helpers(setting: int, wait: bool = True) -> None:
    """Start the helpers now and import the meshing code in each (a worker calls this at boot).

    With ``wait=False`` this returns at once and the helpers get ready in the background: the
    command line starts them first thing, so they import their libraries while it imports torch
    and runs the networks, instead of after."""
    helpers = helper_count(setting)
    if helpers <= 1:
        return
    pool = _get_pool(helpers)
    # Submitting while no helper is idle starts another one, so all of them start and warm up.
    futures = [pool.submit(_warm_up) for _ in range(helpers)]
    if wait:
        pids = {f.result() for f in futures}
        logger.info("%d meshing helper processes ready (%s)", len(pids), sorted(pids))


def stop_helpers() -> None:
    """Stop the helpers (they also stop by themselves when this process dies)."""
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)


def run_all(
    fn: Callable[[Job], Result],
    jobs: Sequence[Job],
    setting: int,
    on_done: Callable[[int, Result], None],
) -> list[Result]:
    """Run ``fn`` on every job in the helpers; ``on_done(index, result)`` is called here, in
    the calling thread, as each one finishes. Returns the results in the order of ``jobs``.

    With one helper (or one job) the jobs run here, one after the other. When ``on_done``
    raises (a cancelled job) or a job fails, jobs not yet started are dropped and those running
    are waited for, so no helper is still writing files when the caller deletes them.
    """
    results: list[Result | None] = [None] * len(jobs)
    helpers = min(helper_count(setting), len(jobs))
    if helpers <= 1:
        for index, job in enumerate(jobs):
            results[index] = fn(job)
            on_done(index, results[index])
        return results  # type: ignore[return-value]
    pool = _get_pool(helper_count(setting))
    futures: dict[Future[Result], int] = {}
    try:
        for index, job in enumerate(jobs):
            futures[pool.submit(fn, job)] = index
        for future in as_completed(futures):
            index = futures[future]
            results[index] = future.result()
            on_done(index, results[index])
    except BrokenProcessPool as e:
        _discard_pool(pool)
        raise MeshHelperDiedError("a meshing helper process died; the job will be retried") from e
    finally:
        for future in futures:
            future.cancel()
        wait(futures)
    return results  # type: ignore[return-value]
