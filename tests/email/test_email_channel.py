"""The email channel end to end: mail delivered into a real Dovecot mailbox reaches the queue
through a real `cic-engine run`; replies go out through a real SMTP server."""

from __future__ import annotations

import time
from email import message_from_bytes
from email.message import EmailMessage

import pytest

from cic_engine.replies import Replies, ReplyFile
from cic_engine.store import inbox
from tests.email.conftest import MAILBOX
from tests.waiting import wait_for

pytestmark = pytest.mark.timeout(120)


def mail(sender: str = "li.wei@example.cn", subject: str = "Order 1234 has not arrived", body: str = "Where is it?",
         message_id: str = "<m1@example.cn>", **headers: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Li Wei <{sender}>"
    msg["To"] = MAILBOX
    msg["Subject"] = subject
    msg["Message-ID"] = message_id
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg.as_bytes()


def rows(store, sql: str, *args) -> list[tuple]:
    with store.transaction() as conn:
        return conn.execute(sql, args).fetchall()


def interaction_of(store, message_id: str) -> tuple | None:
    found = rows(store, """SELECT i.id, i.state, i.subject, m.id FROM messages m JOIN interactions i
                           ON i.id = m.interaction_id WHERE m.channel = 'email' AND m.external_id = %s""", message_id)
    return found[0] if found else None


def test_mail_arrives_by_idle_is_committed_then_marked_seen(start_mail_engine, dovecot, store):
    start_mail_engine()
    wait_for(lambda: rows(store, "SELECT 1 FROM adapter_checkpoints WHERE adapter = 'support'"), what="engine watching")
    sent = time.monotonic()
    dovecot.deliver(mail())
    found = wait_for(lambda: interaction_of(store, "<m1@example.cn>"), what="the mail in the queue")
    latency = time.monotonic() - sent
    assert found[1] == "queued" and found[2] == "Order 1234 has not arrived"
    assert latency < 5, f"IDLE delivery took {latency:.2f}s"
    wait_for(lambda: "\\Seen" in dovecot.flags().get(1, ""), what="marked seen")
    [(sender, name)] = rows(store, "SELECT sender, sender_name FROM messages WHERE external_id = '<m1@example.cn>'")
    assert (sender, name) == ("li.wei@example.cn", "Li Wei")
    print(f"IDLE delivery latency {latency * 1000:.0f} ms")


def _watching(store):
    wait_for(lambda: rows(store, "SELECT 1 FROM adapter_checkpoints WHERE adapter = 'support'"), what="engine watching")


def test_a_reply_threads_into_the_same_interaction_and_a_closed_one_reopens(start_mail_engine, dovecot, store, routing):
    start_mail_engine()
    _watching(store)
    dovecot.deliver(mail())
    first = wait_for(lambda: interaction_of(store, "<m1@example.cn>"), what="first mail")
    dovecot.deliver(mail(subject="Re: Order 1234", message_id="<m2@example.cn>", In_Reply_To="<m1@example.cn>",
                         References="<m1@example.cn>"))
    second = wait_for(lambda: interaction_of(store, "<m2@example.cn>"), what="the reply")
    assert second[0] == first[0]  # one conversation
    # The same subject from someone else is someone else's matter.
    dovecot.deliver(mail(sender="other@example.org", message_id="<o1@example.org>"))
    other = wait_for(lambda: interaction_of(store, "<o1@example.org>"), what="the other customer's mail")
    assert other[0] != first[0]

    routing.abandon(first[0], "closed for the test")
    assert rows(store, "SELECT state FROM interactions WHERE id = %s", first[0]) == [("closed",)]
    dovecot.deliver(mail(subject="Re: Order 1234", message_id="<m3@example.cn>", In_Reply_To="<m2@example.cn>",
                         References="<m1@example.cn> <m2@example.cn>"))
    third = wait_for(lambda: interaction_of(store, "<m3@example.cn>"), what="the late reply")
    assert third[0] == first[0] and third[1] == "queued"  # reopened
    kinds = [k for (k,) in rows(store, "SELECT kind FROM timeline_events WHERE interaction_id = %s ORDER BY id", first[0])]
    assert "reopened" in kinds


def test_follow_up_mode_opens_a_new_interaction_linked_to_the_closed_one(start_mail_engine, dovecot, store, routing):
    start_mail_engine('closed_thread = "follow-up"\n')
    _watching(store)
    dovecot.deliver(mail())
    first = wait_for(lambda: interaction_of(store, "<m1@example.cn>"), what="first mail")
    routing.abandon(first[0], "closed for the test")
    dovecot.deliver(mail(message_id="<m2@example.cn>", In_Reply_To="<m1@example.cn>"))
    second = wait_for(lambda: interaction_of(store, "<m2@example.cn>"), what="the reply")
    assert second[0] != first[0]
    assert rows(store, "SELECT metadata ->> 'follows_up' FROM messages WHERE external_id = '<m2@example.cn>'") == [
        (str(first[0]),)]


def test_an_agent_reply_threads_quotes_and_carries_attachments(start_mail_engine, dovecot, smtp, store):
    start_mail_engine()
    _watching(store)
    inbound = EmailMessage()
    inbound["From"] = "Li Wei <li.wei@example.cn>"
    inbound["To"] = MAILBOX
    inbound["Subject"] = "发票"
    inbound["Message-ID"] = "<inv@example.cn>"
    inbound.set_content("Please send the invoice.\nThanks")
    inbound.add_attachment(b"%PDF-1.4 order", maintype="application", subtype="pdf", filename="订单.pdf")
    dovecot.deliver(inbound.as_bytes())
    found = wait_for(lambda: interaction_of(store, "<inv@example.cn>"), what="the mail")
    [(name, content)] = rows(store, "SELECT filename, content FROM attachments WHERE message_id = %s", found[3])
    assert (name, bytes(content)) == ("订单.pdf", b"%PDF-1.4 order")

    Replies(store).reply(found[0], "Here it is.", files=[ReplyFile("invoice.pdf", "application/pdf", b"%PDF-1.4 inv")])
    assert smtp.arrived.wait(20), "no reply reached the SMTP server"
    [sent] = smtp.received
    assert sent["In-Reply-To"] == "<inv@example.cn>" and "<inv@example.cn>" in sent["References"]
    assert sent["Subject"] == "Re: 发票" and sent["Message-ID"].endswith("@example.com>")
    assert sent["From"].addresses[0].addr_spec == MAILBOX and smtp.envelopes[0][1] == ["li.wei@example.cn"]
    body = sent.get_body(("plain",)).get_content()
    assert body.startswith("Here it is.") and "Example Support team" in body and "> Please send the invoice." in body
    [att] = list(sent.iter_attachments())
    assert att.get_filename() == "invoice.pdf" and att.get_content() == b"%PDF-1.4 inv"
    wait_for(lambda: rows(store, "SELECT 1 FROM outbox WHERE state = 'sent'"), what="outbox marked sent")
    # The customer answers our reply: it threads by our Message-ID.
    dovecot.deliver(mail(message_id="<thanks@example.cn>", In_Reply_To=sent["Message-ID"]))
    assert wait_for(lambda: interaction_of(store, "<thanks@example.cn>"), what="their answer")[0] == found[0]


def test_smtp_temporary_failures_are_retried_and_a_permanent_one_is_final(start_mail_engine, dovecot, smtp, store):
    start_mail_engine()
    _watching(store)
    dovecot.deliver(mail())
    found = wait_for(lambda: interaction_of(store, "<m1@example.cn>"), what="the mail")
    smtp.failures[:] = ["451 4.3.0 try again later", "421 4.7.0 busy"]
    first = Replies(store).reply(found[0], "one")
    wait_for(lambda: rows(store, "SELECT 1 FROM outbox WHERE id = %s AND state = 'sent'", first), what="sent on retry")
    assert rows(store, "SELECT attempts FROM outbox WHERE id = %s", first) == [(3,)]
    smtp.failures[:] = ["550 5.1.1 mailbox unavailable"]
    second = Replies(store).reply(found[0], "two")
    wait_for(lambda: rows(store, "SELECT 1 FROM outbox WHERE id = %s AND state = 'failed'", second), what="failed")
    [(error, attempts)] = rows(store, "SELECT last_error, attempts FROM outbox WHERE id = %s", second)
    assert error.startswith("550") and "mailbox unavailable" in error and attempts == 1
    kinds = [k for (k,) in rows(store, "SELECT kind FROM timeline_events WHERE interaction_id = %s", found[0])]
    assert "message_sent" in kinds and "delivery_failed" in kinds


def test_auto_reply_goes_to_people_but_never_to_robots_or_ourselves(start_mail_engine, dovecot, smtp, store):
    start_mail_engine('[auto_reply]\nsubject = "Received [#{ticket}]"\n')
    _watching(store)
    dovecot.deliver(mail())
    found = wait_for(lambda: interaction_of(store, "<m1@example.cn>"), what="the mail")
    assert smtp.arrived.wait(20)
    [auto] = smtp.received
    assert auto["Subject"] == f"Received [#{found[0]}]" and auto["Auto-Submitted"] == "auto-replied"
    dovecot.deliver(mail(sender="robot@example.org", message_id="<r1@x>", Auto_Submitted="auto-replied"))
    dovecot.deliver(mail(sender="news@example.org", message_id="<r2@x>", Precedence="bulk"))
    dovecot.deliver(mail(sender="MAILER-DAEMON@example.org", message_id="<r3@x>"))
    dovecot.deliver(mail(sender=MAILBOX, message_id="<r4@x>"))
    for mid in ("<r1@x>", "<r2@x>", "<r3@x>", "<r4@x>"):
        wait_for(lambda mid=mid: interaction_of(store, mid), what=f"{mid} ingested")
    time.sleep(1)
    assert len(smtp.received) == 1  # no auto-reply to any of them


def test_a_bounce_is_recorded_on_the_reply_not_queued_as_customer_mail(start_mail_engine, dovecot, smtp, store):
    start_mail_engine()
    _watching(store)
    dovecot.deliver(mail())
    found = wait_for(lambda: interaction_of(store, "<m1@example.cn>"), what="the mail")
    outbox_id = Replies(store).reply(found[0], "answer")
    assert smtp.arrived.wait(20)
    sent_id = smtp.received[0]["Message-ID"]
    dsn = (f"From: MAILER-DAEMON@mx.example.cn\r\nTo: {MAILBOX}\r\nMessage-ID: <dsn1@mx>\r\nSubject: Undelivered\r\n"
           "Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n"
           "--B\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
           "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.cn\r\n\r\n"
           "Final-Recipient: rfc822; li.wei@example.cn\r\nAction: failed\r\nStatus: 5.1.1\r\n"
           "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n"
           f"--B\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {sent_id}\r\n\r\n--B--\r\n").encode()
    dovecot.deliver(dsn)
    wait_for(lambda: rows(store, "SELECT 1 FROM outbox WHERE id = %s AND state = 'failed'", outbox_id), what="bounced")
    [(error,)] = rows(store, "SELECT last_error FROM outbox WHERE id = %s", outbox_id)
    assert "5.1.1" in error and "user unknown" in error
    wait_for(lambda: "\\Seen" in dovecot.flags().get(2, ""), what="the bounce processed")
    assert interaction_of(store, "<dsn1@mx>") is None  # not customer mail
    assert rows(store, "SELECT count(*) FROM interactions") == [(1,)]


def test_gbk_and_big5_mail_reaches_the_queue_as_text(start_mail_engine, dovecot, store):
    start_mail_engine()
    _watching(store)
    for charset, text, mid in (("gbk", "您好，订单朱镕基号还没到", "<gbk@x>"), ("big5", "您好，訂單還沒到", "<big5@x>")):
        msg = EmailMessage()
        msg["From"] = "customer@example.cn"
        msg["Subject"] = text[:4]
        msg["Message-ID"] = mid
        msg.set_content(text, charset=charset)
        dovecot.deliver(msg.as_bytes())
        found = wait_for(lambda mid=mid: interaction_of(store, mid), what=f"{charset} mail")
        assert found[2] == text[:4]
        [(body,)] = rows(store, "SELECT body FROM message_parts WHERE message_id = %s AND seq = 1", found[3])
        assert body.strip() == text


def test_a_malformed_message_is_ingested_as_far_as_it_reads_and_flagged(start_mail_engine, dovecot, store):
    start_mail_engine()
    _watching(store)
    dovecot.deliver(b"From: c@example.com\r\nMessage-ID: <bad@x>\r\nSubject: =?gbk?B?broken?=\r\n"
                    b"Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n--XX\r\nContent-Type: text/plain; "
                    b"charset=utf-8\r\n\r\nreadable \xff\xfe part\r\n--XX\r\nContent-Type: application/pdf\r\n"
                    b"Content-Transfer-Encoding: base64\r\n\r\n@@@not base64")
    found = wait_for(lambda: interaction_of(store, "<bad@x>"), what="the broken mail")
    [(body,)] = rows(store, "SELECT body FROM message_parts WHERE message_id = %s AND seq = 1", found[3])
    assert "readable" in body and "part" in body
    [(problems,)] = rows(store, "SELECT metadata ->> 'problems' FROM messages WHERE id = %s", found[3])
    assert problems and "replaced" in problems


def test_a_message_over_the_size_limit_is_recorded_as_rejected_and_the_mailbox_moves_on(start_mail_engine, dovecot,
                                                                                        store):
    start_mail_engine()  # the default limit: 20 MB
    _watching(store)
    big = EmailMessage()
    big["From"] = "Big Sender <big@example.com>"
    big["Subject"] = "scans"
    big["Message-ID"] = "<big@x>"
    big.set_content("see the scans")
    big.add_attachment(b"\0" * (25 * 1024 * 1024), maintype="application", subtype="octet-stream", filename="scan.bin")
    dovecot.deliver(big.as_bytes())
    dovecot.deliver(mail(message_id="<after@x>"))
    rejected = wait_for(lambda: interaction_of(store, "<big@x>"), timeout=60, what="the big mail on record")
    [(body, meta)] = rows(store, """SELECT p.body, m.metadata FROM messages m JOIN message_parts p ON p.message_id = m.id
                                    WHERE m.id = %s""", rejected[3])
    assert "over this mailbox's 20.0 MB limit" in body and "rejected" in meta
    assert rows(store, "SELECT count(*) FROM attachments WHERE message_id = %s", rejected[3]) == [(0,)]
    assert wait_for(lambda: interaction_of(store, "<after@x>"), what="the next mail")  # not blocked
    assert "\\Seen" in dovecot.flags()[1]



def test_processed_mail_is_moved_and_replies_are_copied_to_sent(start_mail_engine, dovecot, smtp, store):
    start_mail_engine(imap_extra='processed = "move"\nmove_to = "Done"\nsent_folder = "Sent"\n')
    _watching(store)
    dovecot.deliver(mail())
    found = wait_for(lambda: interaction_of(store, "<m1@example.cn>"), what="the mail")
    wait_for(lambda: dovecot.flags("INBOX") == {} and len(dovecot.flags("Done")) == 1, what="moved to Done")
    Replies(store).reply(found[0], "answer")
    wait_for(lambda: len(dovecot.flags("Sent")) == 1, what="a copy in Sent")


def test_without_idle_the_mailbox_is_polled(tmp_path, db_url, smtp, store):
    from tests.core.test_run import stop
    from tests.email.conftest import start_mail_engine_process
    from tests.mailservers.dovecot import Dovecot

    # A server that does not offer IDLE.
    server = Dovecot(extra_config="imap_capability = IMAP4rev1 LITERAL+ UIDPLUS MOVE\n").start()
    proc = start_mail_engine_process(tmp_path, db_url, server, smtp, imap_extra="poll_s = 0.5\n")
    try:
        _watching(store)
        server.deliver(mail())
        assert wait_for(lambda: interaction_of(store, "<m1@example.cn>"), what="the mail, by polling")
    finally:
        assert stop(proc) == 0
        server.remove()


def test_passwords_come_from_the_environment_or_a_file(tmp_path, monkeypatch):
    from cic_engine.adapters.email import ImapSettings

    monkeypatch.setenv("CIC_TEST_IMAP_PASSWORD", "from-env")
    assert ImapSettings(username="u", password_env="CIC_TEST_IMAP_PASSWORD").read("imap") == "from-env"
    (tmp_path / "secret").write_text("from-file\n")
    assert ImapSettings(username="u", password_file=str(tmp_path / "secret")).read("imap") == "from-file"
    with pytest.raises(ValueError, match="CIC_TEST_NOT_SET is not set"):
        ImapSettings(username="u", password_env="CIC_TEST_NOT_SET").read("imap")
    with pytest.raises(ValueError, match="one of"):
        ImapSettings(username="u", password="a", password_env="B")


def test_a_nul_byte_in_a_header_is_read_flagged_and_does_not_block_the_mailbox(start_mail_engine, dovecot, store):
    start_mail_engine()
    _watching(store)
    # A NUL inside the Message-ID (Dovecot stores it as 0x80): no database could keep that id as it is.
    dovecot.deliver(b"From: c@example.com\r\nMessage-ID: <a\x00b@x>\r\nSubject: odd\r\n\r\nbody\r\n")
    dovecot.deliver(mail(message_id="<next@x>"))
    assert wait_for(lambda: interaction_of(store, "<next@x>"), what="the next mail")
    [(subject, problems)] = rows(store, "SELECT subject, metadata ->> 'problems' FROM messages "
                                        "WHERE metadata ->> 'uid' = '1'")
    assert subject == "odd" and "raw 8-bit" in problems
    assert all("\\Seen" in f for f in dovecot.flags().values())


def auto_answered_first_mail(start_mail_engine, dovecot, smtp, store) -> tuple:
    """An engine with the auto-reply on, a customer's first mail, and its auto-reply sent."""
    start_mail_engine('[auto_reply]\nsubject = "We received your message [#{ticket}]"\n')
    _watching(store)
    dovecot.deliver(mail())
    first = wait_for(lambda: interaction_of(store, "<m1@example.cn>"), what="the mail")
    assert smtp.arrived.wait(20)
    return first


def test_a_ticket_reference_in_the_subject_continues_the_interaction_without_a_second_auto_reply(
        start_mail_engine, dovecot, smtp, store):
    first = auto_answered_first_mail(start_mail_engine, dovecot, smtp, store)
    # Written anew (no In-Reply-To, no References), only the reference kept, as the auto-reply asked.
    dovecot.deliver(mail(subject=f"Re: We received your message [#{first[0]}]", body="Any news?",
                         message_id="<m2@example.cn>"))
    assert wait_for(lambda: interaction_of(store, "<m2@example.cn>"), what="the second mail")[0] == first[0]
    # Someone else naming the ticket does not write into the customer's interaction: a new one, linked.
    dovecot.deliver(mail(sender="stranger@example.org", subject=f"About [#{first[0]}]", message_id="<s1@x>"))
    other = wait_for(lambda: interaction_of(store, "<s1@x>"), what="the stranger's mail")
    assert other[0] != first[0]
    assert rows(store, "SELECT metadata ->> 'follows_up' FROM messages WHERE external_id = '<s1@x>'") == [
        (str(first[0]),)]
    wait_for(lambda: len(smtp.received) == 2, what="the stranger's auto-reply")
    time.sleep(1)
    assert [m["To"] for m in smtp.received] == ["li.wei@example.cn", "stranger@example.org"]  # no second to Li Wei


def test_machine_mail_lands_on_the_timeline_without_an_agent_and_our_own_mail_never_queues(
        start_mail_engine, dovecot, smtp, store):
    first = auto_answered_first_mail(start_mail_engine, dovecot, smtp, store)
    sent_id = smtp.received[0]["Message-ID"]
    with store.transaction() as conn:
        conn.execute("UPDATE interactions SET state = 'closed', closed_at = now() WHERE id = %s", (first[0],))
    # The customer's out-of-office answering our auto-reply: on the thread, not reopening it for an agent.
    dovecot.deliver(mail(subject="Automatic reply: We received your message", body="I am away until Monday.",
                         message_id="<ooo1@example.cn>", In_Reply_To=sent_id, Auto_Submitted="auto-replied"))
    ooo = wait_for(lambda: interaction_of(store, "<ooo1@example.cn>"), what="the out-of-office")
    assert ooo[1] == "closed"
    # An out-of-office on no thread, and our own auto-reply coming back with a new Message-ID.
    dovecot.deliver(mail(sender="boss@example.org", subject="Out of office", message_id="<ooo2@x>",
                         X_Autoreply="yes"))
    dovecot.deliver(mail(sender=MAILBOX, subject="We received your message [#1]", message_id="<loop@x>"))
    for mid in ("<ooo2@x>", "<loop@x>"):
        assert wait_for(lambda mid=mid: interaction_of(store, mid), what=mid)[1] == "closed"
    assert rows(store, "SELECT count(*) FROM interactions WHERE state IN ('queued', 'offered')") == [(0,)]


def test_machine_mail_can_be_queued_by_configuration(start_mail_engine, dovecot, store):
    start_mail_engine('machine_mail = "queue"\n')
    _watching(store)
    dovecot.deliver(mail(sender="boss@example.org", subject="Out of office", message_id="<ooo2@x>", X_Autoreply="yes"))
    dovecot.deliver(mail(sender=MAILBOX, subject="loop", message_id="<loop@x>"))
    assert wait_for(lambda: interaction_of(store, "<ooo2@x>"), what="queued")[1] in ("queued", "offered")
    assert wait_for(lambda: interaction_of(store, "<loop@x>"), what="ours")[1] == "closed"  # ours: never


def test_no_auto_reply_to_a_sender_without_an_address_and_an_undeliverable_address_fails_at_once(
        start_mail_engine, dovecot, smtp, store):
    start_mail_engine('[auto_reply]\nsubject = "We received your message [#{ticket}]"\n')
    _watching(store)
    raw = mail().replace(b"From: Li Wei <li.wei@example.cn>", b"From: undisclosed-recipients:;")
    dovecot.deliver(raw)
    found = wait_for(lambda: interaction_of(store, "<m1@example.cn>"), what="the mail")
    time.sleep(1.5)
    assert rows(store, "SELECT count(*) FROM outbox") == [(0,)] and smtp.received == []
    # An agent answering by email a customer whose address cannot take mail: failed at once, saying why.
    with store.transaction() as conn:
        conn.execute("INSERT INTO customer_identities (customer_id, kind, value, created_at) "
                     "SELECT customer_id, 'email', 'li..wei@example.cn', now() FROM interactions WHERE id = %s",
                     (found[0],))
    outbox_id = Replies(store).reply(found[0], "Hello", to="li..wei@example.cn")
    wait_for(lambda: rows(store, "SELECT 1 FROM outbox WHERE id = %s AND state = 'failed'", outbox_id), what="failed")
    [(error, attempts)] = rows(store, "SELECT last_error, attempts FROM outbox WHERE id = %s", outbox_id)
    assert error.startswith("cannot be delivered: not an email address") and attempts == 1


def test_a_forwarded_mail_shows_with_its_own_sender_and_subject_in_the_inbox_view(start_mail_engine, dovecot, store):
    start_mail_engine()
    _watching(store)
    inner = mail(sender="billing@example.com", subject="Your invoice", body="You owe 900 EUR.",
                 message_id="<inv@example.com>")
    outer = EmailMessage()
    outer["From"], outer["To"], outer["Subject"] = "Li Wei <li.wei@example.cn>", MAILBOX, "Fwd: Your invoice"
    outer["Message-ID"] = "<fwd@example.cn>"
    outer.set_content("See the mail I got from you below, it is wrong.")
    outer.add_attachment(message_from_bytes(inner))
    dovecot.deliver(outer.as_bytes())
    found = wait_for(lambda: interaction_of(store, "<fwd@example.cn>"), what="the mail")
    with store.transaction() as conn:
        [message] = inbox.messages(conn, found[0])
    assert message["text"].strip() == "See the mail I got from you below, it is wrong."
    [forwarded] = message["forwarded"]
    assert (forwarded["subject"], forwarded["from_"], forwarded["text"].strip()) == (
        "Your invoice", "Li Wei <billing@example.com>", "You owe 900 EUR.")
    assert [a["filename"] for a in message["attachments"]] == ["Your invoice.eml"]


def test_a_full_mailbox_is_taken_in_shared_commits_each_senders_mail_in_order(start_mail_engine, dovecot, store):
    """Mail waiting when the engine starts: written many to a transaction (one commit, one disk
    flush, for a batch), yet a customer's reply still joins the conversation its first mail
    opened, and every message is committed before it is marked seen."""
    for n in range(8):
        sender = f"customer{n}@example.cn"
        dovecot.deliver(mail(sender=sender, subject=f"Order {n}", message_id=f"<first{n}@example.cn>"))
        dovecot.deliver(mail(sender=sender, subject=f"Re: Order {n}", message_id=f"<reply{n}@example.cn>",
                             In_Reply_To=f"<first{n}@example.cn>", References=f"<first{n}@example.cn>"))
        dovecot.deliver(mail(sender=sender, subject=f"Order {n}, again", message_id=f"<third{n}@example.cn>",
                             References=f"<first{n}@example.cn> <reply{n}@example.cn>"))
    start_mail_engine()
    wait_for(lambda: rows(store, "SELECT count(*) FROM messages WHERE channel = 'email'") == [(24,)],
             what="the 24 mails in the queue")
    wait_for(lambda: sum("\\Seen" in f for f in dovecot.flags().values()) == 24, what="all marked seen")
    for n in range(8):
        found = rows(store, """SELECT m.external_id, m.interaction_id FROM messages m
                               WHERE m.sender = %s ORDER BY m.id""", f"customer{n}@example.cn")
        assert [f[0] for f in found] == [f"<first{n}@example.cn>", f"<reply{n}@example.cn>", f"<third{n}@example.cn>"]
        assert len({f[1] for f in found}) == 1  # one conversation: each reply found what it answers
    [(transactions,)] = rows(store, "SELECT count(DISTINCT xmin::text) FROM messages WHERE channel = 'email'")
    assert transactions <= 12, f"{transactions} transactions for 24 mails: not written together"
