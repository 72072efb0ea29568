"""The process tree's two rules: a child dies with its parent, a supervisor adopts its orphans.

Every process of the service is started by another one (``scripts/serve.py`` at the top, then
gunicorn, Dramatiq, each worker process, its sidecar and meshing helpers). Each child calls
:func:`die_with_parent` first thing, so the kernel kills it the moment its parent is gone, however
the parent died (``kill -9`` included). The supervisor calls :func:`become_subreaper`, so whatever
still escapes is re-parented to it rather than to init, and it can kill and reap it.

Linux only (``prctl``); elsewhere both are no-ops that return False and the caller falls back to
polling ``os.getppid()``.

Two sharp edges of ``PR_SET_PDEATHSIG``:

* it fires when the *thread* that started the child ends, not only its process: start children
  from threads that live as long as the process (the main thread, Dramatiq's worker threads, a
  watcher thread);
* it survives ``execve`` (of a binary that is not set-uid), so a supervisor without CUDA may set
  it in a ``preexec_fn`` before running a program it did not write (redis-server, gunicorn).
  A process that may hold a CUDA context must never use ``preexec_fn`` (it forks the whole
  process); its children set it themselves at start.

All this module imports is the standard library, so it is safe in the API, the worker and the
meshing helpers.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
from pathlib import Path

#: ``prctl`` options from ``<linux/prctl.h>``.
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36

# Loaded once at import, never in a child between fork and exec.
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _prctl(option: int, value: int) -> bool:
    if _libc is None:
        return False
    if _libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"prctl({option}) failed: {os.strerror(errno)}")
    return True


def die_with_parent(parent_pid: int, sig: int = signal.SIGKILL) -> bool:
    """Have the kernel send ``sig`` to this process when its parent ``parent_pid`` ends.

    Call it first thing in the child. When the parent already died before the call (the child
    was re-parented), ``sig`` is sent right away, so the race between start and call is closed.
    Returns False where the kernel cannot do it (not Linux): poll ``os.getppid()`` instead.
    """
    armed = _prctl(PR_SET_PDEATHSIG, int(sig))
    if os.getppid() != parent_pid:
        os.kill(os.getpid(), sig)
    return armed


def become_subreaper() -> bool:
    """Adopt every orphaned descendant (instead of init); False where not supported."""
    return _prctl(PR_SET_CHILD_SUBREAPER, 1)


def _stat(pid: int) -> list[str] | None:
    """Fields of ``/proc/<pid>/stat`` after the command name (state first), or None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text.rsplit(")", 1)[1].split()


def parent_of(pid: int) -> int | None:
    """The parent pid of ``pid``, or None when it is gone."""
    fields = _stat(pid)
    return int(fields[1]) if fields else None


def is_running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def children_of(pid: int) -> list[int]:
    """Pids whose parent is ``pid`` (zombies included), read from ``/proc``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def command_line(pid: int) -> str:
    """The command line of ``pid`` (empty when it is gone or a zombie)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def reap(pid: int) -> bool:
    """Collect ``pid``'s exit status if it is our child and has ended; True when it is gone."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return done == pid


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> bool:
    """Send ``sig`` to process group ``pgid``; False when the group is empty."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:  # a pid reused by a process that is not ours: leave it
        return False
    return True


def group_alive(pgid: int) -> bool:
    """True while any process (zombies included) belongs to group ``pgid``."""
    return kill_group(pgid, 0)


def kill_quietly(pid: int, sig: int = signal.SIGKILL) -> None:
    """Send ``sig`` to ``pid`` unless it is already gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)
