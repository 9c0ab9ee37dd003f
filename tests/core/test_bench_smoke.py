"""Every benchmark in bench/ at a tiny size (`--smoke`), so that none can rot: each runs to its
last line of `name=value` figures. (bench/realswitch.py needs the real switch: it has its own
smoke test in tests/realswitch/.) The full sizes are `make bench`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests import processes

BENCH = Path(__file__).resolve().parents[2] / "bench"
BENCHMARKS = sorted(p for p in BENCH.glob("[!_]*.py") if p.stem != "realswitch")
# A channel's rate also against the store's own ceiling (its contacts through Engine.ingest_many).
CHANNELS = {"email_channel", "sms", "webchat"}


def test_no_file_in_bench_shadows_a_standard_module():
    # bench/email.py once did: gevent's patch_all imports importlib.metadata, which imports email.
    assert [p.name for p in BENCH.glob("*.py") if p.stem in sys.stdlib_module_names] == []


@pytest.mark.timeout(300)
@pytest.mark.parametrize("script", BENCHMARKS, ids=lambda p: p.stem)
def test_the_benchmark_runs_at_a_tiny_size_and_prints_its_figures(script):
    # Its servers' files (and so their command lines) under a directory of the run: one left
    # running by a benchmark that failed half way is found and stopped at the run's end.
    scratch = processes.scratch_dir(f"cic-bench-{script.stem}-")
    try:
        done = subprocess.run([sys.executable, str(script), "--smoke"], capture_output=True, text=True, timeout=280,
                              cwd=BENCH.parent, env={**os.environ, "TMPDIR": str(scratch)})
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    assert done.returncode == 0, done.stderr[-4000:]
    last = done.stdout.strip().splitlines()[-1]
    figures = dict(pair.split("=", 1) for pair in last.split())
    assert "ratio" in figures, last
    if script.stem in CHANNELS:
        assert "ceiling_ratio" in figures, last
    assert all(value.replace(".", "", 1).replace("-", "", 1).isdigit() for value in figures.values()), last
