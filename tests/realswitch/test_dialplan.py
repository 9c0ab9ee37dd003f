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


FAX_ATTEMPTS = 2  # as a fax machine redials: audio fax over loopback is real-time, and a
                 # starved 2-core test machine can garble a T.30 exchange ("Unexpected message")


def test_a_fax_sent_over_loopback_arrives_in_the_spool(fs):
    for attempt in range(1, FAX_ATTEMPTS + 1):
        leg = f"fa0fa0fa-0000-4000-8000-00000000000{attempt}"
        fs.api(f"bgapi originate {{origination_uuid={leg},origination_caller_id_number=+8613800138301}}"
               f"loopback/{FAX_DID}/public &txfax({PAGES})")
        receiver = wait_for(lambda leg=leg: fs.var(leg, "other_loopback_leg_uuid"), what="the fax call")
        spooled = fs.fax_spool / f"rx-{receiver}.tif"
        wait_for(lambda leg=leg: not fs.exists(leg), timeout=120, what="the fax call over")
        if spooled.exists() and spooled.stat().st_size > 10_000:
            return
    raise AssertionError(f"no fax received in {FAX_ATTEMPTS} attempts: {fs.log_tail(1500)}")


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
    with_pdf = """SELECT m.interaction_id, count(*) FILTER (WHERE a.content_type = 'application/pdf')
                  FROM messages m LEFT JOIN attachments a ON a.message_id = m.id
                  WHERE m.channel = 'fax' AND m.id > %s GROUP BY m.id, m.interaction_id ORDER BY m.id LIMIT 1"""
    seen = 0
    for _ in range(FAX_ATTEMPTS):  # see FAX_ATTEMPTS: a garbled exchange arrives as a failed fax, without pages
        fs.api(f"bgapi originate {{origination_caller_id_number=+8613800138302}}loopback/{FAX_DID}/public "
               f"&txfax({PAGES})")
        interaction_id, pages = wait_for(
            lambda seen=seen: store.connection().__enter__().execute(with_pdf, (seen,)).fetchone(), timeout=120,
            what="the fax in the inbox")
        if pages:
            break
        with store.transaction() as conn:
            seen = conn.execute("SELECT max(id) FROM messages WHERE channel = 'fax'").fetchone()[0]
    assert pages == 1  # the received pages as one PDF (the TIFF is kept beside it)
    alice = accepted(web, interaction_id)
    status, body = alice.call("POST", f"/api/interactions/{interaction_id}/reply",
                              {"text": "Your corrected invoice.", "files": [pdf_file(1)]})
    assert status == 202, body
    sent = wait_for(lambda: timeline(store, interaction_id, "message_sent"), timeout=120, what="the fax sent")[0]
    assert sent["result"] == "OK" and sent["pages_sent"] >= 1, sent
    received = list((fs.root / "fax-customer").glob("*.tif"))
    assert received and received[0].stat().st_size > 1000
