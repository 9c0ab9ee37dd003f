"""Real SIP legs (SIPp, Debian's sip-tester) where a SIP stack matters: a customer's phone
behind a carrier (the switch's carrier-facing profile, no authentication, the public context)
that sends PCMU RTP and presses a key as an RFC 2833 telephone-event, chooses in the engine's
menu and waits in line; an agent's SIP phone registered as the shipped directory's user."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests import processes, real_parts
from tests.core.test_run import free_port
from tests.realswitch.conftest import DID
from tests.realswitch.test_ivr_and_voicemail import IVR
from tests.voice.conftest import interaction, wait_for

pytestmark = pytest.mark.timeout(120)
SCENARIOS = Path(__file__).with_name("sipp")
_media = itertools.count()


def _media_port() -> int:
    """SIPp's RTP ports, apart from free_port's band (SIPp also binds the port + 2 for video)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    n = int(worker[2:]) % 8 if worker[2:].isdigit() else 0
    return 60000 + n * 500 + (next(_media) % 100) * 4


def _sipp(fs, scenario: list[str], fields: str, tmp_path, extra: list[str] | None = None,
          service: str = DID, port: int | None = None) -> subprocess.Popen:
    """One SIPp phone: `scenario` is ["-sf", file] or ["-sn", built-in]; `fields` its data line."""
    if not shutil.which("sipp"):
        real_parts.missing("no sipp (make test installs Debian's sip-tester)")
    data = tmp_path / f"fields-{fields.split(';')[0].lstrip('+')}.csv"
    data.write_text(f"SEQUENTIAL\n{fields}\n")
    return processes.spawn(
        ["sipp", f"127.0.0.1:{fs.sip_port}", *scenario, "-s", service, "-inf", str(data), *(extra or []),
         "-i", "127.0.0.1", "-p", str(port or free_port()), "-mp", str(_media_port()), "-m", "1", "-l", "1",
         "-timeout", "60s", "-nostdin", "-trace_err",
         "-error_file", str(tmp_path / f"sipp-errors-{Path(scenario[-1]).stem}.log")],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_a_sip_customer_presses_1_as_rfc2833_and_waits_with_the_chosen_skills(start_engine, fs, store, tmp_path):
    start_engine(IVR)
    phone = _sipp(fs, ["-sf", str(SCENARIOS / "customer_presses_1.xml")], "+8613800138700;", tmp_path)
    try:
        found = wait_for(lambda: _voice_interaction(store), timeout=30, what="the SIP call queued after the menu")
        assert found["skills"] == {"billing": 5}
        assert found["ivr"].endswith("main:1")
        assert found["channel_name"].startswith("sofia/internal/")  # a real SIP leg, not loopback
        out, _ = phone.communicate(timeout=40)
        assert phone.returncode == 0, out[-2000:]
        closed = wait_for(lambda: (i := _voice_interaction(store)) and i["state"] == "closed" and i, timeout=15,
                          what="the hang-up seen")
        assert closed["outcome"] == "abandoned"
    finally:
        for sipp in (phone,):
            if sipp.poll() is None:
                sipp.kill()
                sipp.wait()


def _voice_interaction(store) -> dict | None:
    with store.transaction() as conn:
        row = conn.execute(
            """SELECT i.state, i.outcome, i.skills, m.metadata->>'ivr', m.metadata->>'channel_name'
               FROM interactions i JOIN messages m ON m.interaction_id = i.id WHERE m.channel = 'voice'
               ORDER BY i.id DESC LIMIT 1""").fetchone()
    if row is None:
        return None
    return dict(zip(("state", "outcome", "skills", "ivr", "channel_name"), row, strict=True))


def test_an_agent_with_a_registered_sip_phone_answers_and_the_caller_hangs_up(start_engine, fs, routing, store,
                                                                             tmp_path):
    """The default agent_endpoint, user/{login}: the shipped directory's alice, registered by a
    real SIP phone, rings and answers (echoing RTP) a SIP customer's call, and gets the BYE when
    the customer hangs up."""
    start_engine('agent_endpoint = "user/{login}"\n')
    port = free_port()
    phone = _sipp(fs, ["-sn", "uas"], "alice;", tmp_path, extra=["-rtp_echo"], port=port)
    registering = _sipp(fs, ["-sf", str(SCENARIOS / "agent_register.xml")], f"alice;{port};", tmp_path,
                        extra=["-au", "alice", "-ap", "cic-test-agent"])
    customer = None
    try:
        assert registering.wait(timeout=20) == 0, registering.communicate()[0][-2000:]
        assert "alice@" in fs.api("sofia status profile internal reg")
        customer = _sipp(fs, ["-sf", str(SCENARIOS / "customer_calls.xml")], "+8613800138701;", tmp_path,
                         extra=["-d", "6000"])
        routing.set_available(routing.agent_id("alice"))
        talking = wait_for(lambda: next((c for c in fs.channels() if c["name"].startswith("sofia/internal/alice")
                                         and fs.var(c["uuid"], "bridge_to")), None), timeout=20,
                           what="the SIP customer bridged to alice's SIP phone")
        caller_uuid = fs.var(talking["uuid"], "bridge_to")
        assert fs.channel(caller_uuid).get("name", "").startswith("sofia/internal/+86")
        # the engine hears CHANNEL_BRIDGE a moment after the switch shows the bridge
        wait_for(lambda: interaction(store, caller_uuid)["state"] == "active", what="alice's accept on record")
        for sipp in (customer, phone):  # the customer hangs up; alice's phone gets the BYE
            out, _ = sipp.communicate(timeout=30)
            assert sipp.returncode == 0, out[-2000:]
        wait_for(lambda: interaction(store, caller_uuid)["state"] == "wrap_up", what="alice's wrap-up")
    finally:
        for sipp in (phone, registering, customer):
            if sipp is not None and sipp.poll() is None:
                sipp.kill()
                sipp.wait()
