"""The run leaves nothing running: a process a test starts through tests.processes.spawn ends
with the test, even one it forgot; one started any other way and left running fails the run,
naming the test that started it, and is stopped."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tests import processes

REPO = Path(__file__).resolve().parents[2]

LEAKING = textwrap.dedent("""\
    import subprocess
    from tests.processes import spawn

    def test_forgets_what_it_spawned():
        spawn(["sleep", "{forgotten}"])

    def test_leaks_a_process():
        subprocess.Popen(["sleep", "{leaked}"])

    def test_starts_nothing():
        pass
    """)


def sleeping(seconds: str) -> list[int]:
    return [f.pid for f in processes.leftovers([], ancestor=1) if f.command == f"sleep {seconds}"]


def test_a_leaked_process_fails_the_run_with_the_tests_name_and_is_stopped(tmp_path):
    # Lengths no other process on the machine sleeps for, to find these two again.
    forgotten, leaked = f"300.{os.getpid()}1", f"300.{os.getpid()}2"
    (tmp_path / "test_leaking.py").write_text(LEAKING.format(forgotten=forgotten, leaked=leaked))
    (tmp_path / "conftest.py").write_text("from tests.processes import _run_leaves_nothing, _test_processes_stopped"
                                          "  # noqa: F401\n")
    run = processes.spawn(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "--rootdir", str(tmp_path),
         "--basetemp", str(tmp_path / "base"), str(tmp_path / "test_leaking.py")],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)})
    out, _ = run.communicate(timeout=120)
    assert run.returncode != 0, out
    assert "test_leaking.py::test_leaks_a_process" in out and f"sleep {leaked}" in out, out
    assert "test_forgets_what_it_spawned" not in out.split("still running at its end")[1], out
    assert "3 passed" in out, out  # the tests themselves passed: the leak is what failed the run
    time.sleep(0.5)
    assert sleeping(forgotten) == [] and sleeping(leaked) == []
