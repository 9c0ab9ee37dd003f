"""The browser-phone tests (tests/realswitch/browser_phone_calls.py) need WebRTC media on
127.0.0.1 only: they run in a private network namespace made for them (`unshare -n`, root), as
one pytest run whose report is shown here when it fails."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests import real_parts
from tests.real_parts import needs_chromium
from tests.realswitch.freeswitch import unavailable_reason

REPO = Path(__file__).resolve().parents[2]
pytestmark = [needs_chromium,
              pytest.mark.timeout(900)]


def test_the_agents_browser_phone_against_the_real_switch_in_a_private_network(tmp_path):
    if reason := unavailable_reason():
        real_parts.missing(reason)
    if shutil.which("unshare") is None:
        pytest.fail("util-linux's unshare is missing: the WebRTC tests need a private network namespace")
    report = tmp_path / "report.txt"
    with report.open("w") as out:
        done = subprocess.run(
            ["unshare", "-n", sys.executable, "-m", "tests.realswitch.private_network",
             "tests/realswitch/browser_phone_calls.py", "-p", "no:cacheprovider", "-q", "-rA",
             "--basetemp", str(tmp_path / "inner")],
            cwd=REPO, stdout=out, stderr=subprocess.STDOUT, timeout=840,
            env={**os.environ, "PYTHONPATH": str(REPO)})
    text = report.read_text(errors="replace")
    summary = text.strip().splitlines()[-1] if text.strip() else "(no output)"
    assert done.returncode == 0, f"{summary}\n\n{text[-30000:]}"
    assert " passed" in summary and "skipped" not in summary, summary
