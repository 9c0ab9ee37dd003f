"""SMS and email campaigns through the real test servers: a real engine sends a campaign's
texts to the SMPP server at the campaign's rate, and its mails to aiosmtpd; a STOP or a
do-not-contact entry that arrives mid-campaign stops the next message; customers' answers
(an SMS through the SMSC, a mail into Dovecot) wait in the queue linked to the campaign."""

from __future__ import annotations

import textwrap
import time
from email.message import EmailMessage

import gevent
import pytest

from tests.channel_files import MAILBOX, OUR_SMS, email_toml, sms_toml
from tests.outbound.conftest import rows, wait_rows

pytestmark = pytest.mark.timeout(180)
ALL_DAY = {"start": "00:00", "end": "00:00", "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}





def test_an_sms_campaign_keeps_its_rate_honours_stop_and_dnc_mid_campaign_and_links_replies(
        start_outbound, smsc, store):
    engine = start_outbound({"sms": sms_toml(smsc.port)})
    deadline = time.monotonic() + 20
    while smsc.ask(cmd="bound")["sessions"] != ["cic"]:
        assert time.monotonic() < deadline, "the engine did not bind to the SMSC"
        gevent.sleep(0.05)
    sue = engine.api("sue")
    status, made = sue.call("POST", "/api/campaigns", {
        "name": "renew-sms", "channel": "sms", "queue": "sales", "rate_per_s": 2, "hours": ALL_DAY,
        "template": "Hi {name}, your {plan} plan renews soon. Reply YES to renew, STOP to opt out."})
    assert status == 201, made
    good = [f"1380013800{n}" for n in range(6)]
    csv = "phone,name,plan\n" + "".join(f"{p},Customer {p[-1]},gold\n" for p in good) + \
        "12345,Too Short,gold\n" + f"{good[0]},Twice,gold\n" + "13900139000,Extra,gold,value\n"
    status, imported = sue.call("POST", f"/api/campaigns/{made['id']}/contacts", content_type="text/csv",
                                raw=csv.encode())
    assert status == 200 and imported["added"] == 6
    assert [(e["row"], e["problem"][:30]) for e in imported["errors"]] == [
        (8, "not a valid phone number in re"), (9, "the same phone as row 2"), (10, "more values than columns")]
    assert sue.call("POST", f"/api/campaigns/{made['id']}/contacts", content_type="text/plain",
                    raw=csv.encode())[0] == 415

    assert sue.call("POST", f"/api/campaigns/{made['id']}/start")[0] == 200
    deadline = time.monotonic() + 20
    while not smsc.submits():
        assert time.monotonic() < deadline
        gevent.sleep(0.05)
    # Mid-campaign: the last customer texts STOP, the one before is put on the do-not-contact list.
    assert smsc.deliver("86" + good[5], OUR_SMS, b"STOP") == 0
    assert sue.call("POST", "/api/dnc", {"phone": good[4], "reason": "complained"})[0] == 201
    wait_rows(store, "SELECT 1 FROM campaigns WHERE state = 'finished'", timeout=30)
    wait_rows(store, "SELECT 1 FROM outbox WHERE state = 'sent'", count=4)

    submits = [s for s in smsc.submits() if s["answer"] == "accepted"]
    assert sorted(s["destination"] for s in submits) == sorted("86" + p for p in good[:4])
    assert bytes.fromhex(submits[0]["body_hex"]).decode() == \
        "Hi Customer 0, your gold plan renews soon. Reply YES to renew, STOP to opt out."
    times = sorted(s["at"] for s in submits)
    assert times[-1] - times[0] >= 0.9  # four texts at 2 a second (a burst of two, then one each 0.5 s)
    states = dict(rows(store, "SELECT address, last_reason FROM campaign_contacts WHERE state = 'refused'"))
    assert states == {"+86" + good[4]: "on the do-not-contact list", "+86" + good[5]: "opted out of sms"}

    assert smsc.deliver("86" + good[0], OUR_SMS, b"YES") == 0
    (interaction_id, state, queue) = wait_rows(store, """SELECT i.id, i.state, q.name FROM interactions i
                                                         JOIN queues q ON q.id = i.queue_id
                                                         WHERE i.campaign_id = %s AND i.direction = 'inbound'""",
                                               made["id"])[0]
    assert state in ("queued", "offered") and queue == "general"  # the SMS channel's queue
    _, view = sue.call("GET", f"/api/campaigns/{made['id']}")
    report = view["report"]
    assert report["replies"] == 1 and report["reached"] == 4 and report["attempts"] == 4
    assert report["contacts_by_state"] == {"done": 4, "refused": 2}


def test_an_email_campaign_from_cic_toml_sends_through_smtp_and_its_answers_thread_back(
        start_outbound, dovecot, smtp, store, tmp_path):
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "renewals.csv").write_text(
        "email,name,plan\nann@example.net,Ann Lee,fibre\nbo@example.org,Bo Wu,copper\nnot-an-address,X,fibre\n")
    engine = start_outbound({"support": email_toml(dovecot.port, smtp.port)}, extra=textwrap.dedent("""\
        [[campaigns]]
        name = "renew-mail"
        channel = "email"
        queue = "sales"
        autostart = true
        contacts_csv = "lists/renewals.csv"
        subject = "{name}, your {plan} plan"
        template = "Dear {name},\\nyour {plan} plan renews next month. Just reply to this mail."
        hours = { start = "00:00", end = "00:00", days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] }
        """))
    wait_rows(store, "SELECT 1 FROM outbox WHERE state = 'sent'", count=2)
    mails = {m["To"]: m for m in smtp.received}
    assert set(mails) == {"ann@example.net", "bo@example.org"}
    ann = mails["ann@example.net"]
    assert ann["Subject"] == "Ann Lee, your fibre plan" and MAILBOX in ann["From"]
    assert "your fibre plan renews next month" in ann.get_body(("plain",)).get_content()
    log = (tmp_path / "engine.log").read_text()
    assert "not-an-address" in log and "renew-mail" in log  # the bad row is reported, with its campaign

    answer = EmailMessage()
    answer["From"], answer["To"], answer["Subject"] = "Ann Lee <ann@example.net>", MAILBOX, "Re: " + ann["Subject"]
    answer["Message-ID"], answer["In-Reply-To"] = "<answer-1@example.net>", ann["Message-ID"]
    answer.set_content("Yes please, renew it.")
    dovecot.deliver(answer.as_bytes())
    # The answer threads into the conversation that holds the campaign's mail, which waits for an agent again.
    (interaction_id, state, queue) = wait_rows(store, """SELECT i.id, i.state, q.name FROM interactions i
                                                         JOIN queues q ON q.id = i.queue_id JOIN messages m
                                                         ON m.interaction_id = i.id AND m.direction = 'inbound'
                                                         WHERE i.campaign_id IS NOT NULL""")[0]
    assert state in ("queued", "offered") and queue == "sales"
    assert [d for (d,) in rows(store, "SELECT direction FROM messages WHERE interaction_id = %s ORDER BY id",
                               interaction_id)] == ["outbound", "inbound"]
    status, listing = engine.api("sue").call("GET", "/api/campaigns")
    (report,) = listing["campaigns"]
    assert report["campaign"] == "renew-mail" and report["replies"] == 1 and report["reached"] == 2
