"""The service's processes as the kernel sees them (``/proc``): who is whose child, in what role.

``scripts/serve.py`` runs in a session of its own (the tests start it with ``start_new_session``)
and nothing below it starts a new session, so the session id names every process it started,
whatever happened to their parents. A marker variable in the environment catches any that
would have left the session anyway.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

#: Where each role's process must hang, and how many of them a healthy service has.
EXPECTED_PARENT = {
    "redis": "serve",
    "api-master": "serve",
    "api-worker": "api-master",
    "dramatiq": "serve",
    "worker": "dramatiq",
    "tracker": "dramatiq",
    "helper": "worker",
    "sidecar": "worker",
    "janitor": "serve",
}


@dataclass(frozen=True)
class Proc:
    """One live (not zombie) process."""

    pid: int
    ppid: int
    pgid: int
    session: int
    cmd: str
    role: str = ""

    def __str__(self) -> str:
        return f"{self.pid:>7} {self.ppid:>7} {self.role:<10} {self.cmd[:90]}"


def _read(pid: int, marker: bytes | None) -> tuple[list[str], str, bool] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        tagged = False
        if marker is not None:
            try:
                tagged = marker in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            except PermissionError:
                tagged = False
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat.rsplit(")", 1)[1].split(), cmd, tagged


def snapshot(session: int, marker: str | None = None) -> dict[int, Proc]:
    """Every live process of ``session`` (and any carrying ``marker``, e.g. ``NAME=value``)."""
    raw = marker.encode() if marker else None
    found: dict[int, Proc] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        read = _read(int(entry.name), raw)
        if read is None:
            continue
        fields, cmd, tagged = read
        state, ppid, pgid, sid = fields[0], int(fields[1]), int(fields[2]), int(fields[3])
        if state == "Z" or not (sid == session or tagged):
            continue
        pid = int(entry.name)
        found[pid] = Proc(pid, ppid, pgid, sid, cmd)
    return _with_roles(found, session)


def _with_roles(procs: dict[int, Proc], serve_pid: int) -> dict[int, Proc]:
    roles: dict[int, str] = {}

    def role(pid: int) -> str:
        if pid in roles:
            return roles[pid]
        p = procs.get(pid)
        if p is None:
            return "outside"
        cmd = p.cmd
        if pid == serve_pid:
            found = "serve"
        elif cmd.startswith("redis-server") or "/redis-server" in cmd.split(" ", 1)[0]:
            found = "redis"
        elif "gpu_worker.janitor" in cmd:
            found = "janitor"
        elif "gpu_worker.sidecar" in cmd:
            found = "sidecar"
        elif "-m dramatiq" in cmd:
            found = "dramatiq"
        elif "resource_tracker" in cmd:
            found = "tracker"
        elif "gunicorn" in cmd:
            found = "api-master" if p.pgid == pid else "api-worker"
        elif "spawn_main" in cmd:
            parent = role(p.ppid)
            found = {"dramatiq": "worker", "worker": "helper"}.get(parent, "stray")
        else:
            found = "unknown"
        roles[pid] = found
        return found

    return {pid: Proc(**{**p.__dict__, "role": role(pid)}) for pid, p in procs.items()}


def orphans(procs: dict[int, Proc]) -> list[Proc]:
    """Processes not hanging where they belong: their own parent died (or is a stranger)."""
    wrong = []
    for p in procs.values():
        if p.role == "serve":
            continue
        parent = procs.get(p.ppid)
        expected = EXPECTED_PARENT.get(p.role)
        if expected is None or parent is None or parent.role != expected:
            wrong.append(p)
    return wrong


def shape_problems(procs: dict[int, Proc], api_workers: int, helpers: int) -> list[str]:
    """What differs from a healthy, idle-or-busy service's tree (empty: all is well)."""
    counts = Counter(p.role for p in procs.values())
    expected = {
        "serve": 1, "redis": 1, "api-master": 1, "api-worker": api_workers, "dramatiq": 1,
        "worker": 1, "helper": helpers, "sidecar": 1, "janitor": 1,
    }  # fmt: skip
    problems = [
        f"{n} {role} process(es), expected {want}"
        for role, want in expected.items()
        if (n := counts.get(role, 0)) != want
    ]
    if counts.get("tracker", 0) > 1:
        problems.append(f"{counts['tracker']} resource trackers")
    problems += [f"orphan: {p}" for p in orphans(procs)]
    return problems


def table(procs: dict[int, Proc]) -> str:
    """The snapshot as a readable process list."""
    lines = [f"{'PID':>7} {'PPID':>7} {'ROLE':<10} COMMAND"]
    lines += [str(p) for p in sorted(procs.values(), key=lambda p: p.pid)]
    return "\n".join(lines)


def kill_all(procs: dict[int, Proc]) -> None:
    """SIGKILL every process of a snapshot (a failed test must not leave any behind)."""
    for pid in procs:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
