"""The shipped dialplan on the real switch: fax numbers reach mod_spandsp, not the engine, in
the order FreeSWITCH reads the files; a fax over loopback (no T.38 re-INVITE answered) arrives."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.realswitch.conftest import FAX_DID, Caller
from tests.voice.conftest import interaction, wait_for

pytestmark = pytest.mark.timeout(150)
PAGES = Path(__file__).resolve().parents[1] / "fax" / "data" / "sent-2-pages-g3.tif"


def test_a_call_to_a_fax_number_is_received_by_the_switch_not_offered_as_a_voice_call(engine, fs, store):
    caller = Caller(fs, "+8613800138300", did=FAX_DID)
    wait_for(lambda: caller.application() in ("rxfax", "socket", "playback"), what="the fax line answered")
    time.sleep(1.5)
    assert caller.application() == "rxfax"
    assert interaction(store, caller.uuid) is None


def test_a_fax_sent_over_loopback_arrives_in_the_spool(fs):
    leg = "fa0fa0fa-0000-4000-8000-000000000001"
    fs.api(f"bgapi originate {{origination_uuid={leg},origination_caller_id_number=+8613800138301}}"
           f"loopback/{FAX_DID}/public &txfax({PAGES})")
    receiver = wait_for(lambda: fs.var(leg, "other_loopback_leg_uuid"), what="the fax call")
    spooled = fs.fax_spool / f"rx-{receiver}.tif"
    wait_for(lambda: not fs.exists(leg), timeout=120, what="the fax call over")
    assert spooled.exists() and spooled.stat().st_size > 10_000, f"no fax received: {fs.log_tail(1500)}"
