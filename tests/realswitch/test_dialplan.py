"""The shipped dialplan on the real switch: fax numbers reach mod_spandsp, not the engine, in
the order FreeSWITCH reads the files; a fax over loopback (no T.38 re-INVITE answered) arrives."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest

from tests.fax.test_fax_channel import accepted, pdf_file, timeline
from tests.realswitch.conftest import FAX_DID, Caller
from tests.voice.conftest import interaction, wait_for
from tests.web.conftest import start_web  # noqa: F401 - the fixture

pytestmark = pytest.mark.timeout(300)
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


def _fax_channel(fs) -> str:
    return textwrap.dedent(f"""\
        kind = "fax"
        esl_port = {fs.esl_port}
        esl_password = "cic-test-esl"
        queue = "general"
        numbers = ["{FAX_DID}"]
        spool_dir = "{fs.fax_spool}"
        outbound_dir = "{fs.root / 'fax-out'}"
        dial = "loopback/{{number}}/cic_fax_customers/XML"
        station_id = "+86 10 6552 0000"
        retry_delay_s = 1
        """)


def test_a_fax_in_through_the_shipped_dialplan_reaches_the_inbox_and_the_agents_pdf_goes_back(
        start_web, fs, store):  # noqa: F811 - start_web is the imported fixture
    """mod_spandsp both ways: a customer's 2 pages received by the shipped fax extension, the
    agent's PDF sent back with txfax to the customer's (simulated, but real spandsp) machine."""
    web = start_web(channels={"fax": _fax_channel(fs)}, cic_extra="[outbox]\nbackoff_s = 0.3\n")
    fs.api(f"bgapi originate {{origination_caller_id_number=+8613800138302}}loopback/{FAX_DID}/public "
           f"&txfax({PAGES})")
    with_fax = "SELECT i.id FROM interactions i JOIN messages m ON m.interaction_id = i.id WHERE m.channel = 'fax'"
    interaction_id = wait_for(lambda: (r := store.connection().__enter__().execute(with_fax).fetchone()) and r[0],
                              timeout=120, what="the fax in the inbox")
    with store.transaction() as conn:
        pages = conn.execute("SELECT count(*) FROM attachments a JOIN messages m ON m.id = a.message_id "
                             "WHERE m.interaction_id = %s AND a.content_type = 'application/pdf'",
                             (interaction_id,)).fetchone()[0]
    assert pages == 1  # the received pages as one PDF (the TIFF is kept beside it)
    alice = accepted(web, interaction_id)
    status, body = alice.call("POST", f"/api/interactions/{interaction_id}/reply",
                              {"text": "Your corrected invoice.", "files": [pdf_file(1)]})
    assert status == 202, body
    sent = wait_for(lambda: timeline(store, interaction_id, "message_sent"), timeout=120, what="the fax sent")[0]
    assert sent["result"] == "OK" and sent["pages_sent"] >= 1, sent
    received = list((fs.root / "fax-customer").glob("*.tif"))
    assert received and received[0].stat().st_size > 1000
