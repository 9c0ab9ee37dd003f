"""Processes the tests start, and the proof that a run leaves none behind.

`spawn` is how a test or fixture starts a process: it is registered with the test that started
it and stopped by pid (its whole process group) when that test ends, also when the test failed
or timed out before its own clean-up. A server meant to outlive one test says so
(`scope="session"`) and is stopped at the end of the worker's run.

At the end of the run `leftovers` looks at this machine's processes. Two kinds count as left
behind by the run, whether or not they were started through `spawn`:
- the pytest process's descendants;
- anything with the run's temporary directory in its command line (a daemon that left its
  parent, such as PostgreSQL started by pg_ctl).
The run stops them and fails with the test that started each one, read from that process's
environment (pytest's PYTEST_CURRENT_TEST, which every child inherits).

This module is a pytest plugin: tests/conftest.py loads it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

STOP_WAIT_S = 10.0


@dataclass
class Started:
    proc: subprocess.Popen
    test: str | None  # the test that started it; None: a session's setup
    scope: str  # "test" or "session"


_started: list[Started] = []
_watched: list[Path] = []  # more directories whose processes are the run's (see scratch_dir)


def _current_test() -> str | None:
    current = os.environ.get("PYTEST_CURRENT_TEST")
    return current.rsplit(" (", 1)[0] if current else None


def spawn(args: list[str], *, scope: str = "test", **popen) -> subprocess.Popen:
    """subprocess.Popen, in a process group of its own (so that stopping it stops what it
    started), registered to be stopped at the end of its test (or of the run)."""
    assert scope in ("test", "session"), scope
    proc = subprocess.Popen(args, start_new_session=True, **popen)
    _started.append(Started(proc, _current_test(), scope))
    return proc


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, wait_s: float = STOP_WAIT_S) -> int:
    """Stop one process and its group: `sig`, then SIGKILL if it has not ended within `wait_s`.
    Returns its exit status."""
    if proc.poll() is None:
        _signal_group(proc.pid, sig)
        try:
            proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait(timeout=wait_s)
    _signal_group(proc.pid, signal.SIGKILL)  # what it started and left in its group
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
    return proc.returncode


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def stop_started(scope: str) -> list[Started]:
    """Stop every registered process of `scope` still running; those it stopped."""
    stopped = []
    for started in [s for s in _started if s.scope == scope]:
        if started.proc.poll() is None:
            stopped.append(started)
        stop(started.proc)
        _started.remove(started)
    return stopped


def scratch_dir(prefix: str) -> Path:
    """A directory outside pytest's (0700) temporary tree, for servers that run as their own
    user (Dovecot) under a benchmark's TMPDIR; whatever runs from it counts as the run's."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    _watched.append(path)
    return path


@dataclass
class Leftover:
    pid: int
    command: str
    test: str | None


def leftovers(roots: list[Path], ancestor: int | None = None) -> list[Leftover]:
    """Live processes descended from `ancestor` (this process by default), or with one of
    `roots` in their command line."""
    ancestor = ancestor or os.getpid()
    me = os.getpid()
    table: dict[int, tuple[int, str, str]] = {}  # pid -> (parent, state, command)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace").strip()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        table[int(entry.name)] = (int(fields[1]), fields[0], command)
    found = []
    for pid, (_, state, command) in table.items():
        if pid == me or state == "Z" or not command:
            continue
        if _descends(pid, ancestor, table) or any(str(root) in command for root in roots):
            found.append(Leftover(pid, command[:300], _test_of(pid)))
    return found


def _descends(pid: int, ancestor: int, table: dict[int, tuple[int, str, str]]) -> bool:
    seen = set()
    while pid in table and pid not in seen:
        seen.add(pid)
        pid = table[pid][0]
        if pid == ancestor:
            return True
    return False


def _test_of(pid: int) -> str | None:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    for item in environ:
        if item.startswith(b"PYTEST_CURRENT_TEST="):
            return item.split(b"=", 1)[1].decode("utf-8", "replace").rsplit(" (", 1)[0]
    return None


def kill(found: list[Leftover]) -> None:
    for leftover in found:
        try:
            os.kill(leftover.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture(autouse=True)
def _test_processes_stopped():
    """Whatever this test started through `spawn` ends with it (after its other fixtures)."""
    yield
    stop_started("test")


@pytest.fixture(scope="session", autouse=True)
def _run_leaves_nothing(tmp_path_factory):
    """Set up first, so torn down last: after every other fixture of the run has stopped what
    it started, nothing of the run may be left."""
    yield
    stop_started("session")
    roots = [tmp_path_factory.getbasetemp(), *_watched]
    found = leftovers(roots)
    if not found:
        return
    kill(found)
    time.sleep(0.2)
    lines = [f"  pid {f.pid} from {f.test or 'no test (a session fixture)'}: {f.command}" for f in found]
    pytest.fail("processes of this run were still running at its end (now killed):\n" + "\n".join(lines),
                pytrace=False)
