"""bench/realswitch.py at a tiny size, so that it cannot rot: it runs through the real switch
and prints its figures on its last line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from tests import processes, real_parts
from tests.realswitch.freeswitch import REPO, unavailable_reason

pytestmark = pytest.mark.timeout(300)


def test_the_real_switch_benchmark_runs_and_prints_its_figures():
    if reason := unavailable_reason():
        real_parts.missing(reason)
    scratch = processes.scratch_dir("cic-bench-realswitch-")  # as in tests/core/test_bench_smoke.py
    try:
        done = subprocess.run([sys.executable, str(REPO / "bench" / "realswitch.py"), "--smoke"], capture_output=True,
                              text=True, timeout=280, env={**os.environ, "TMPDIR": str(scratch)})
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    assert done.returncode == 0, done.stderr[-3000:]
    figures = dict(pair.split("=", 1) for pair in done.stdout.strip().splitlines()[-1].split())
    assert {"ratio", "p99_5", "cc_p99_5", "p50_5"} <= set(figures)
    assert float(figures["p99_5"]) > 0  # the engine's callers all reached an agent
