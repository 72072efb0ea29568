"""mrimesh.proc: a child dies with its parent however the parent dies; a sub-reaper adopts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mrimesh import proc

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")

#: A parent that starts a child (which arms its death signal) and prints the child's pid.
PARENT = textwrap.dedent(
    """
    import os, subprocess, sys, time
    sys.path.insert(0, {repo!r})
    child = subprocess.Popen([sys.executable, "-c", {child!r}, str(os.getpid())])
    print(child.pid, flush=True)
    time.sleep(60)
    """
)
CHILD = textwrap.dedent(
    """
    import os, sys, time
    sys.path.insert(0, {repo!r})
    from mrimesh.proc import die_with_parent
    die_with_parent({expected})
    time.sleep(60)
    """
)


def _wait_gone(pid: int, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while proc.is_running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not proc.is_running(pid)


def test_a_child_dies_the_moment_its_parent_is_killed(tmp_path: Path) -> None:
    # Given a parent whose child armed its death signal
    child_code = CHILD.format(repo=str(REPO), expected="int(sys.argv[1])")
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT.format(repo=str(REPO), child=child_code)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        child = int(parent.stdout.readline())
        assert proc.is_running(child)
        # When the parent is killed outright (before or after the child armed it)
        parent.kill()
        parent.wait(10)
        # Then the child is gone within seconds, not re-parented and left running
        assert _wait_gone(child, 20)
    finally:
        parent.kill()
        parent.wait()
        parent.stdout.close()
        if "child" in locals():
            proc.kill_quietly(child)


def test_a_child_whose_parent_died_before_it_armed_dies_at_once() -> None:
    # Given a child told its parent is a process that is not its parent (as if the parent died
    # and it was re-parented before it could call die_with_parent)
    code = CHILD.format(repo=str(REPO), expected="os.getppid() + 100000")
    child = subprocess.Popen([sys.executable, "-c", code])
    # Then it ends itself with the death signal instead of running on
    assert child.wait(20) == -signal.SIGKILL


def test_a_subreaper_adopts_the_orphans_below_it() -> None:
    # Given a process that is the sub-reaper of its tree, with a grandchild whose parent exits
    code = textwrap.dedent(
        f"""
        import os, subprocess, sys, time
        sys.path.insert(0, {str(REPO)!r})
        from mrimesh import proc
        assert proc.become_subreaper()
        middle = subprocess.Popen([sys.executable, "-c",
            "import subprocess, sys; p = subprocess.Popen(['sleep', '60']); print(p.pid)"],
            stdout=subprocess.PIPE, text=True)
        grandchild = int(middle.stdout.readline())
        middle.wait()
        deadline = time.monotonic() + 10
        while proc.parent_of(grandchild) != os.getpid() and time.monotonic() < deadline:
            time.sleep(0.05)
        print(grandchild, proc.parent_of(grandchild) == os.getpid(),
              grandchild in proc.children_of(os.getpid()), flush=True)
        proc.kill_quietly(grandchild)
        while not proc.reap(grandchild):
            time.sleep(0.05)
        print(proc.is_running(grandchild), flush=True)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    # Then the orphan became its child (not init's), and it could kill and reap it
    assert out[1:] == ["True", "True", "False"]


def test_process_groups_are_killed_whole() -> None:
    # Given a process group of two (a leader and its child)
    leader = subprocess.Popen(
        ["sh", "-c", "sleep 60 & wait"], process_group=0, stdout=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while not proc.children_of(leader.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        (child,) = proc.children_of(leader.pid)
        assert proc.group_alive(leader.pid)
        # When the group is killed
        assert proc.kill_group(leader.pid)
        leader.wait(10)
        # Then both are gone, and the empty group says so
        assert _wait_gone(child)
        deadline = time.monotonic() + 10
        while proc.group_alive(leader.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not proc.group_alive(leader.pid)
        assert not proc.kill_group(leader.pid)
    finally:
        leader.kill()
        leader.wait()


def test_command_line_and_parent_of_a_process() -> None:
    assert proc.parent_of(os.getpid()) == os.getppid()
    assert "python" in proc.command_line(os.getpid())
    assert proc.command_line(2**22 + 7) == "" and proc.parent_of(2**22 + 7) is None
