"""Real SIP legs (SIPp, Debian's sip-tester) where a SIP stack matters: a customer's phone
behind a carrier (the switch's carrier-facing profile, no authentication, the public context)
that sends PCMU RTP and presses a key as an RFC 2833 telephone-event, chooses in the engine's
menu and waits in line."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.core.test_run import free_port
from tests.realswitch.conftest import DID
from tests.realswitch.test_ivr_and_voicemail import IVR
from tests.voice.conftest import wait_for

pytestmark = pytest.mark.timeout(120)
SCENARIOS = Path(__file__).with_name("sipp")


def _sipp(fs, scenario: str, user: str, tmp_path) -> subprocess.Popen:
    if not shutil.which("sipp"):
        pytest.skip("no sipp (make test installs Debian's sip-tester)")
    users = tmp_path / "users.csv"
    users.write_text(f"SEQUENTIAL\n{user};\n")
    return subprocess.Popen(
        ["sipp", f"127.0.0.1:{fs.sip_port}", "-sf", str(SCENARIOS / scenario), "-s", DID, "-inf", str(users),
         "-i", "127.0.0.1", "-p", str(free_port()), "-mp", str(free_port()), "-m", "1", "-l", "1",
         "-timeout", "60s", "-nostdin", "-trace_err", "-error_file", str(tmp_path / "sipp-errors.log")],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_a_sip_customer_presses_1_as_rfc2833_and_waits_with_the_chosen_skills(start_engine, fs, store, tmp_path):
    start_engine(IVR)
    phone = _sipp(fs, "customer_presses_1.xml", "+8613800138700", tmp_path)
    try:
        found = wait_for(lambda: _voice_interaction(store), timeout=30, what="the SIP call queued after the menu")
        assert found["skills"] == {"billing": 5}
        assert found["ivr"].endswith("main:1")
        assert found["channel_name"].startswith("sofia/internal/")  # a real SIP leg, not loopback
        out, _ = phone.communicate(timeout=40)
        assert phone.returncode == 0, out[-2000:] + (tmp_path / "sipp-errors.log").read_text(errors="replace")[-2000:]
        closed = wait_for(lambda: (i := _voice_interaction(store)) and i["state"] == "closed" and i, timeout=15,
                          what="the hang-up seen")
        assert closed["outcome"] == "abandoned"
    finally:
        if phone.poll() is None:
            phone.kill()
            phone.wait()


def _voice_interaction(store) -> dict | None:
    with store.transaction() as conn:
        row = conn.execute(
            """SELECT i.state, i.outcome, i.skills, m.metadata->>'ivr', m.metadata->>'channel_name'
               FROM interactions i JOIN messages m ON m.interaction_id = i.id WHERE m.channel = 'voice'
               ORDER BY i.id DESC LIMIT 1""").fetchone()
    if row is None:
        return None
    return dict(zip(("state", "outcome", "skills", "ivr", "channel_name"), row, strict=True))
