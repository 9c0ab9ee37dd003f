"""The fax channel end to end: a real `cic-engine run` with the fax adapter on the simulated
switch (rxfax/txfax with real TIFF files), read and worked through the inbox's API as an agent."""

from __future__ import annotations

import base64
import io
import urllib.request

import gevent
import pikepdf
import pytest

from cic_engine.fax import document
from tests.fakeswitch import fax as simfax
from tests.fax.conftest import CUSTOMER, LINE, fax_toml
from tests.rejecting import cli, refusing, rejected
from tests.voice.conftest import wait_for

pytestmark = pytest.mark.timeout(180)
def fax_interaction(store, uuid: str) -> dict | None:
    with store.transaction() as conn:
        row = conn.execute(
            """SELECT i.id, i.state, i.subject, m.metadata, m.sender,
                      (SELECT string_agg(body, '') FROM message_parts p WHERE p.message_id = m.id)
               FROM messages m JOIN interactions i ON i.id = m.interaction_id
               WHERE m.channel = 'fax' AND m.external_id = %s""", (uuid,)).fetchone()
    return dict(zip(("id", "state", "subject", "metadata", "sender", "text"), row, strict=True)) if row else None


def timeline(store, interaction_id: int, kind: str) -> list[dict]:
    with store.transaction() as conn:
        return [r[0] for r in conn.execute("SELECT data FROM timeline_events WHERE interaction_id = %s AND kind = %s "
                                           "ORDER BY id", (interaction_id, kind)).fetchall()]


def attachments(alice, interaction_id: int) -> list[dict]:
    status, view = alice.call("GET", f"/api/interactions/{interaction_id}")
    assert status == 200, view
    return [a for m in view["messages"] for a in m["attachments"]]


def fetch(alice, path: str) -> tuple[str, str, bytes]:
    request = urllib.request.Request(alice.base + path, headers={"Cookie": alice.cookie})
    with urllib.request.urlopen(request, timeout=20) as response:
        return response.headers["Content-Type"], response.headers.get("Content-Disposition", ""), response.read()


def accepted(web, interaction_id: int):
    alice = web.api().login("alice")
    alice.call("POST", "/api/me/state", {"state": "available"})
    wait_for(lambda: any(o["id"] == interaction_id for o in alice.call("GET", "/api/work")[1]["offers"]),
             what="the fax offered to alice")
    status, body = alice.call("POST", f"/api/interactions/{interaction_id}/accept", {})
    assert status == 200, body
    return alice


def test_a_received_multi_page_fax_is_queued_with_a_pdf_the_inbox_shows_and_the_original_tiff(
        fax_engine, switch, spool, store):
    web = fax_engine()
    leg = simfax.receive(switch, CUSTOMER, LINE, str(spool), simfax.fax_pages(3), station="+86 21 5555 0100")
    found = wait_for(lambda: fax_interaction(store, leg.uuid), what="the fax ingested")
    assert found["state"] in ("queued", "offered") and found["sender"] == CUSTOMER
    assert found["subject"] == f"Fax from {CUSTOMER} (3 pages)"
    assert found["metadata"]["fax_pages"] == "3" and found["metadata"]["fax_result_text"] == "OK"
    assert found["metadata"]["fax_remote_station"] == "+86 21 5555 0100" and "problems" not in found["metadata"]
    assert "3 pages received" in found["text"]
    wait_for(lambda: not list(spool.iterdir()), what="the spool file removed after the commit")

    alice = accepted(web, found["id"])
    files = attachments(alice, found["id"])
    assert [(f["content_type"], f["derived"]) for f in files] == [("application/pdf", True), ("image/tiff", False)]
    content_type, disposition, pdf = fetch(alice, f"/api/attachments/{files[0]['id']}?view=inline")
    assert content_type == "application/pdf" and disposition.startswith("inline")
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        assert len(doc.pages) == 3
    content_type, disposition, tiff = fetch(alice, f"/api/attachments/{files[1]['id']}?view=inline")
    assert content_type == "application/octet-stream" and disposition.startswith("attachment")  # never inline
    assert document.read_tiff(tiff).pages == 3


@pytest.mark.parametrize("outcome, expected, problem", [
    ("dropped", "reception failed: The call dropped prematurely (1 page(s) received)", "partial fax"),
    ("no-fax", "reception failed: Timed out waiting for initial communication (0 page(s) received)", "fax failed"),
    ("corrupt", "3 pages received", "the received file cannot be shown: the tiff cannot be decoded"),
])
def test_failed_partial_and_unreadable_faxes_are_recorded_with_the_reason(
        fax_engine, switch, spool, store, outcome, expected, problem):
    fax_engine()
    leg = simfax.receive(switch, CUSTOMER, LINE, str(spool), simfax.fax_pages(3), outcome=outcome)
    found = wait_for(lambda: fax_interaction(store, leg.uuid), what="the fax recorded")
    assert expected in found["text"], found["text"]
    assert problem in found["metadata"]["problems"].lower(), found["metadata"]
    with store.transaction() as conn:
        kept = conn.execute("SELECT content_type FROM attachments a JOIN messages m ON m.id = a.message_id "
                            "WHERE m.external_id = %s ORDER BY a.seq", (leg.uuid,)).fetchall()
    assert [k[0] for k in kept] == {"dropped": ["application/pdf", "image/tiff"], "no-fax": [],
                                    "corrupt": ["image/tiff"]}[outcome]


def test_a_fax_whose_result_the_engine_missed_is_taken_from_the_spool_once(fax_engine, switch, spool, store):
    web = fax_engine()
    web.kill()
    leg = simfax.receive(switch, CUSTOMER, LINE, str(spool), simfax.fax_pages(2))  # nobody hears its result
    leg.greenlet.join(10)
    web.restart()
    found = wait_for(lambda: fax_interaction(store, leg.uuid), what="the swept fax ingested")
    assert found["metadata"]["fax_pages"] == "2" and "result not reported" in found["text"]
    wait_for(lambda: not list(spool.iterdir()), what="the swept file removed")
    # The window "committed, file not yet removed" (a crash between the two): the file is back.
    again = spool / f"rx-{leg.uuid}.tif"
    again.write_bytes(simfax.fax_pages(2))
    wait_for(lambda: not again.exists(), what="the duplicate file dropped")
    with store.transaction() as conn:
        assert conn.execute("SELECT count(*) FROM messages WHERE channel = 'fax'").fetchone()[0] == 1


def test_a_fax_the_database_refuses_leaves_the_spool_on_record_and_is_reingested(fax_engine, switch, spool, store):
    """Kept in the spool, every sweep would try it again for ever: it is on record as rejected
    with its TIFF, out of the spool, the next fax comes in, and after the fix it is re-ingested."""
    web = fax_engine()
    with refusing(store, "messages", "NEW.channel = 'fax' AND NEW.sender LIKE '%0001'") as lift:
        refused = simfax.receive(switch, "+8613900000001", LINE, str(spool), simfax.fax_pages(2))
        [(rejected_id, channel, _, reason, source, raw)] = wait_for(lambda: rejected(store), what="on record")
        assert (channel, source["uuid"], source["from"]) == ("fax", refused.uuid, "+8613900000001")
        assert reason.startswith("CheckViolation") and document.read_tiff(bytes(raw)).pages == 2
        wait_for(lambda: not list(spool.iterdir()), what="out of the spool")
        after = simfax.receive(switch, CUSTOMER, LINE, str(spool), simfax.fax_pages(1))
        wait_for(lambda: fax_interaction(store, after.uuid), what="the next fax ingested")
        lift(store, "messages")
        done = cli(web.tmp_path / "cic.toml", "reingest", str(rejected_id))
        assert done.returncode == 0, done.stderr
    found = fax_interaction(store, refused.uuid)
    assert found["subject"] == "Fax from +8613900000001 (2 pages)" and "2 pages received" in found["text"]


def test_metrics_count_the_event_socket_connections(fax_engine, switch):
    from tests.web.test_metrics import scrape

    web = fax_engine()
    key = ("cic_esl_connects_total", (("adapter", "fax"), ("node", "web-node")))
    assert scrape(web)[key] == 1
    switch.drop_connections()  # FreeSWITCH goes away and comes back: the adapter connects again
    wait_for(lambda: scrape(web).get(key) == 2, what="the second connection counted")
    assert scrape(web)[("cic_adapter_up", (("adapter", "fax"), ("kind", "fax"), ("node", "web-node")))] == 1


def test_a_live_fax_call_is_left_alone_by_the_sweep(fax_engine, switch, spool, store):
    fax_engine()
    live = spool / "rx-11111111-2222-4333-8444-555555555555.tif"
    live.write_bytes(simfax.fax_pages(1))
    switch.channels["11111111-2222-4333-8444-555555555555"] = object()  # rxfax still writing it
    gevent.sleep(2.5)
    assert live.exists() and fax_interaction(store, "11111111-2222-4333-8444-555555555555") is None
    del switch.channels["11111111-2222-4333-8444-555555555555"]
    wait_for(lambda: fax_interaction(store, "11111111-2222-4333-8444-555555555555"), what="taken once it ended")


def received(fax_engine, switch, spool, store):
    web = fax_engine()
    leg = simfax.receive(switch, CUSTOMER, LINE, str(spool), simfax.fax_pages(1))
    found = wait_for(lambda: fax_interaction(store, leg.uuid), what="the fax ingested")
    return web, accepted(web, found["id"]), found["id"]


def pdf_file(pages: int) -> dict:
    pdf = document.tiff_to_pdf(simfax.fax_pages(pages, label="invoice"))
    return {"filename": "invoice.pdf", "content_type": "application/pdf", "content": base64.b64encode(pdf).decode()}


def test_an_agents_pdf_is_faxed_back_with_a_cover_page_and_the_result_on_the_timeline(
        fax_engine, switch, spool, store):
    web, alice, interaction_id = received(fax_engine, switch, spool, store)
    status, body = alice.call("POST", f"/api/interactions/{interaction_id}/reply",
                              {"text": "Your corrected invoice.", "files": [pdf_file(2)]})
    assert status == 202, body
    sent = wait_for(lambda: timeline(store, interaction_id, "message_sent"), what="the fax sent")[0]
    assert (sent["pages_sent"], sent["pages"], sent["result"], sent["channel"]) == (3, 3, "OK", "fax")
    far_end = switch.sent_faxes[-1]
    assert far_end["number"] == CUSTOMER and far_end["pages_sent"] == 3
    assert far_end["pages"] == [{"size": (1728, 2292), "dpi": (204, 196), "compression": "group4"}] * 3
    assert far_end["variables"]["fax_ident"] == "+86 10 6552 0001"
    assert far_end["variables"]["fax_header"] == "Example Ltd support"
    assert not list((spool.parent / "out").iterdir())  # the rendered file is not left behind


def test_a_busy_fax_line_is_tried_again_and_the_fax_goes_out(fax_engine, switch, spool, store):
    web, alice, interaction_id = received(fax_engine, switch, spool, store)
    switch.phones[CUSTOMER] = "busy"
    alice.call("POST", f"/api/interactions/{interaction_id}/reply", {"text": "", "files": [pdf_file(1)]})
    retry = wait_for(lambda: timeline(store, interaction_id, "delivery_retry"), what="a retry planned")[0]
    assert retry["cause"] == "USER_BUSY" and retry["attempt"] == 1 and "try 1 of 2; trying again" in retry["error"]
    switch.phones[CUSTOMER] = "answer"
    sent = wait_for(lambda: timeline(store, interaction_id, "message_sent"), what="sent on the second try")[0]
    assert sent["attempt"] == 2 and sent["pages_sent"] == 1


def test_a_fax_that_keeps_failing_is_marked_failed_with_the_pages_sent_and_spandsps_reason(
        fax_engine, switch, spool, store):
    web, alice, interaction_id = received(fax_engine, switch, spool, store)
    switch.phones[CUSTOMER] = "fax-drop"
    alice.call("POST", f"/api/interactions/{interaction_id}/reply", {"text": "", "files": [pdf_file(3)]})
    failed = wait_for(lambda: timeline(store, interaction_id, "delivery_failed"), what="given up")[0]
    assert failed["pages_sent"] == 1 and failed["result"] == "The call dropped prematurely"
    assert "try 2 of 2" in failed["error"] and len(timeline(store, interaction_id, "delivery_retry")) == 1
    assert [f["pages_sent"] for f in switch.sent_faxes] == [1, 1]


def test_what_cannot_be_faxed_is_refused_at_once_with_the_reason(fax_engine, switch, spool, store):
    web, alice, interaction_id = received(fax_engine, switch, spool, store)
    word = {"filename": "letter.docx", "content_type": "application/msword",
            "content": base64.b64encode(b"PK\x03\x04 not a pdf").decode()}
    status, body = alice.call("POST", f"/api/interactions/{interaction_id}/reply", {"text": "", "files": [word]})
    assert status == 409 and body["error"] == "letter.docx cannot be faxed: attach PDF or TIFF documents"
    status, body = alice.call("POST", f"/api/interactions/{interaction_id}/reply", {"text": " ", "files": []})
    assert status == 400
    broken = {"filename": "broken.pdf", "content_type": "application/pdf",
              "content": base64.b64encode(b"%PDF-1.4\nnot really\n").decode()}
    alice.call("POST", f"/api/interactions/{interaction_id}/reply", {"text": "", "files": [broken]})
    failed = wait_for(lambda: timeline(store, interaction_id, "delivery_failed"), what="the render refused")[0]
    assert "cannot be rendered as a fax" in failed["error"] and switch.sent_faxes == []


def test_without_ghostscript_the_fax_adapter_does_not_start_and_health_says_why(tmp_path, db_url, switch, spool,
                                                                                   monkeypatch):
    from tests.core.test_run import engine_toml, free_port, get_health, start, stop

    (tmp_path / "channels").mkdir(exist_ok=True)
    (tmp_path / "channels" / "fax.toml").write_text(fax_toml(switch, tmp_path))
    port = free_port()
    (tmp_path / "cic.toml").write_text(engine_toml("fax-node", db_url, port) + '[[queues]]\nname = "general"\n')
    (tmp_path / "bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))  # a host without gs
    proc = start(tmp_path / "cic.toml", log=tmp_path / "engine.log")
    try:
        status, health = get_health(port)
        assert health["status"] == "degraded" and health["adapters"]["fax"]["state"] == "failed"
        assert "Ghostscript (gs) is needed to send faxes" in health["adapters"]["fax"]["last_error"]
    finally:
        assert stop(proc) == 0
