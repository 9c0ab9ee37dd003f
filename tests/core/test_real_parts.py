"""A real part missing (here FreeSWITCH) skips its tests in a plain pytest run, naming the part,
and fails them under make test (CIC_REAL_PARTS=required), which installed every part."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO


def _run(**env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rsE", "-p", "no:cacheprovider", "-p", "no:xdist",
                           "tests/realswitch/test_sip_phones.py"], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "CIC_FREESWITCH": "/nonexistent", **env})


def test_a_missing_switch_is_a_named_skip_by_hand_and_a_failure_under_make_test():
    by_hand = _run(CIC_REAL_PARTS="")
    assert by_hand.returncode == 0 and "2 skipped" in by_hand.stdout, by_hand.stdout[-2000:]
    assert "no FreeSWITCH at /nonexistent" in by_hand.stdout
    under_make_test = _run(CIC_REAL_PARTS="required")
    assert under_make_test.returncode == 1 and "2 error" in under_make_test.stdout, under_make_test.stdout[-2000:]
    assert "no FreeSWITCH at /nonexistent" in under_make_test.stdout and "broken test bed" in under_make_test.stdout
