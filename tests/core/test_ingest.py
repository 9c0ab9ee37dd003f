import hashlib
import json
import select
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from pydantic import ValidationError

from cic_engine.engine import IngestRefused
from cic_engine.identity import InvalidIdentity
from cic_engine.models import Attachment, Channel, ContentPart, InboundContact, InteractionState
from cic_engine.store import interactions, timeline
from tests import processes

WORKER = Path(__file__).with_name("ingest_worker.py")


def sms(external_id, sender="13800138000", text="hello", **kw):
    return InboundContact(
        channel=Channel.sms, endpoint="+8610086", external_id=external_id, sender=sender,
        parts=[ContentPart(body=text)], **kw,
    )


def mail(external_id, sender="wang.li@example.com", subject="Invoice", refs=(), **kw):
    return InboundContact(
        channel=Channel.email, endpoint="support@company.example", external_id=external_id, sender=sender,
        subject=subject, thread_refs=list(refs), parts=[ContentPart(body="mail body")], **kw,
    )


def count(store, sql, *params):
    with store.transaction() as conn:
        return conn.execute(sql, params).fetchone()[0]


def test_ingest_creates_customer_interaction_message_and_timeline(engine, store):
    result = engine.ingest(sms("sms-1", sender="+86 138 0013 8000", text="我的订单在哪里?"))
    assert (result.duplicate, result.new_customer, result.new_interaction) == (False, True, True)
    customer = engine.get_customer(result.customer_id)
    assert [(i.kind, i.value) for i in customer.identities] == [("phone", "+8613800138000")]
    with store.transaction() as conn:
        interaction = interactions.get(conn, result.interaction_id)
        msgs = interactions.messages(conn, result.interaction_id)
        events = [e.kind for e in timeline.for_interaction(conn, result.interaction_id)]
    assert interaction.state is InteractionState.queued
    assert interaction.queue == "general" and interaction.channel is Channel.sms
    assert [m.parts[0].body for m in msgs] == ["我的订单在哪里?"]
    assert events == ["interaction_opened", "queued", "message_received"]


def test_the_same_contact_twice_yields_one_message(engine, store):
    first = engine.ingest(sms("sms-dup"))
    again = engine.ingest(sms("sms-dup"))
    assert again.duplicate and not first.duplicate
    assert (again.message_id, again.interaction_id, again.customer_id) == (
        first.message_id, first.interaction_id, first.customer_id,
    )
    assert count(store, "SELECT count(*) FROM messages") == 1
    assert count(store, "SELECT count(*) FROM timeline_events WHERE kind = 'message_received'") == 1


def test_same_id_on_another_channel_is_another_contact(engine):
    a = engine.ingest(sms("id-42"))
    b = engine.ingest(InboundContact(channel=Channel.voice, endpoint="4000", external_id="id-42", sender="13800138000"))
    assert not b.duplicate and a.message_id != b.message_id
    assert a.customer_id == b.customer_id  # one phone number, one customer, whatever the channel


def test_a_caller_is_recognised_across_channels_and_number_formats(engine):
    call = engine.ingest(InboundContact(channel=Channel.voice, endpoint="4000", external_id="uuid-1", sender="013800138000"))
    text = engine.ingest(sms("sms-x", sender="+86 138-0013-8000"))
    fax = engine.ingest(InboundContact(channel=Channel.fax, endpoint="4001", external_id="fax-1", sender="008613800138000"))
    assert call.customer_id == text.customer_id == fax.customer_id
    assert len({call.interaction_id, text.interaction_id, fax.interaction_id}) == 3


def test_two_processes_ingesting_the_same_contacts_at_once_store_each_once(engine, store, db_url):
    # 40 senders, 5 messages each, all new customers: both processes race on every customer
    # creation, every conversation and every message.
    contacts = [
        sms(f"race-{s}-{n}", sender=f"+86139{s:08d}", text=f"message {n}", continue_within_s=3600).model_dump(mode="json")
        for s in range(40) for n in range(5)
    ]
    procs = [
        processes.spawn(
            [sys.executable, str(WORKER), db_url, str(seed)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for seed in (1, 2)
    ]
    for p in procs:  # both workers load their contacts, then start together on "go"
        p.stdin.write(json.dumps(contacts) + "\n")
        p.stdin.flush()
    for p in procs:
        ready, _, _ = select.select([p.stdout], [], [], 60)
        assert ready and p.stdout.readline().strip() == "ready"
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in outputs]
    results = [json.loads(out) for out, _ in outputs]

    assert count(store, "SELECT count(*) FROM messages") == 200
    assert count(store, "SELECT count(*) FROM customers") == 40
    assert count(store, "SELECT count(*) FROM customer_identities") == 40
    assert count(store, "SELECT count(*) FROM interactions") == 40  # each sender's texts are one conversation
    assert count(store, "SELECT count(*) FROM timeline_events WHERE kind = 'message_received'") == 200
    by_id = {}
    for per_process in results:
        for r in per_process:
            by_id.setdefault(r["external_id"], []).append(r)
    for external_id, pair in by_id.items():
        assert sorted(r["duplicate"] for r in pair) == [False, True], external_id
        assert pair[0]["message_id"] == pair[1]["message_id"]


def test_email_reply_threads_into_the_same_interaction(engine):
    first = engine.ingest(mail("<a1@example.com>"))
    reply = engine.ingest(mail("<a2@example.com>", subject="Re: Invoice", refs=["<a1@example.com>"]))
    unrelated = engine.ingest(mail("<a3@example.com>", subject="Another question"))
    assert reply.interaction_id == first.interaction_id and not reply.new_interaction
    assert unrelated.interaction_id != first.interaction_id


def test_subject_alone_never_merges_different_customers(engine):
    a = engine.ingest(mail("<b1@example.com>", sender="a@example.com", subject="Refund"))
    b = engine.ingest(mail("<b2@example.com>", sender="b@example.com", subject="Re: Refund", refs=["<b1@example.com>"]))
    assert a.customer_id != b.customer_id
    assert a.interaction_id != b.interaction_id


def test_sms_continues_the_conversation_within_its_window_only(engine, clock):
    first = engine.ingest(sms("w-1", continue_within_s=1800))
    clock.advance(1700)
    second = engine.ingest(sms("w-2", continue_within_s=1800))
    clock.advance(1801)
    third = engine.ingest(sms("w-3", continue_within_s=1800))
    assert second.interaction_id == first.interaction_id
    assert third.interaction_id != first.interaction_id and third.new_interaction


def test_sms_to_another_company_number_is_another_conversation(engine):
    first = engine.ingest(sms("e-1", continue_within_s=1800))
    other = engine.ingest(
        InboundContact(channel=Channel.sms, endpoint="+8610010", external_id="e-2", sender="13800138000", continue_within_s=1800)
    )
    assert other.interaction_id != first.interaction_id


def test_chat_messages_with_one_session_key_share_an_interaction(engine):
    def chat(n, key):
        return InboundContact(channel=Channel.chat, endpoint="web", external_id=f"chat-{n}", sender="visitor-7", conversation_key=key)

    a = engine.ingest(chat(1, "session-A"))
    b = engine.ingest(chat(2, "session-A"))
    c = engine.ingest(chat(3, "session-B"))
    assert a.interaction_id == b.interaction_id != c.interaction_id


def test_a_closed_interaction_is_not_continued(engine, store):
    first = engine.ingest(sms("c-1", continue_within_s=3600))
    with store.transaction() as conn:
        conn.execute("UPDATE interactions SET state = 'closed' WHERE id = %s", (first.interaction_id,))
    again = engine.ingest(sms("c-2", continue_within_s=3600))
    assert again.interaction_id != first.interaction_id


def test_queue_and_priority_come_from_the_contact_and_the_queue(engine, store):
    result = engine.ingest(sms("q-1", queue="vip", priority=5))
    with store.transaction() as conn:
        interaction = interactions.get(conn, result.interaction_id)
    assert (interaction.queue, interaction.priority) == ("vip", 25)


def test_a_contact_for_an_unknown_or_unsuitable_queue_is_refused(engine, store):
    with pytest.raises(IngestRefused, match="no queue named 'nope'"):
        engine.ingest(sms("r-1", queue="nope"))
    with pytest.raises(IngestRefused, match="queue 'voice-only' does not take sms"):
        engine.ingest(sms("r-2", queue="voice-only"))
    assert count(store, "SELECT count(*) FROM messages") == 0


def test_a_self_service_contact_is_recorded_closed(engine, store):
    result = engine.ingest(InboundContact(
        channel=Channel.voice, endpoint="4000", external_id="ivr-1", sender="13800138000", needs_agent=False,
    ))
    with store.transaction() as conn:
        interaction = interactions.get(conn, result.interaction_id)
    assert interaction.state is InteractionState.closed and interaction.queue is None


def test_invalid_sender_is_refused_with_a_clear_error_and_nothing_written(engine, store):
    with pytest.raises(InvalidIdentity, match="not a valid phone number in region CN: '12345'"):
        engine.ingest(sms("bad-1", sender="12345"))
    with pytest.raises(InvalidIdentity, match="not an email address"):
        engine.ingest(mail("<bad-2@x>", sender="MAILER-DAEMON"))
    assert count(store, "SELECT count(*) FROM customers") == 0


def test_hostile_input_is_refused_by_the_model_not_by_the_database():
    with pytest.raises(ValidationError, match="NUL"):
        sms("nul\x00id")
    with pytest.raises(ValidationError, match="at most 998"):
        sms("x" * 999)
    with pytest.raises(ValidationError, match="at most 2000000"):
        sms("huge", text="a" * 2_000_001)


def test_html_and_odd_text_are_stored_verbatim(engine, store):
    body = "<script>alert('x')</script> \U0001f600 \ufffd GBK: 你好 '); DROP TABLE messages; -- \\' $1 %s {}"
    result = engine.ingest(sms("odd-1'; --", text=body, metadata={"x'": "y\\"}))
    with store.transaction() as conn:
        [message] = interactions.messages(conn, result.interaction_id)
    assert message.parts[0].body == body and message.external_id == "odd-1'; --"


def test_a_contact_racing_an_agent_closing_its_interaction_opens_a_new_one(engine, store, db_url):
    first = engine.ingest(sms("race-close-1", continue_within_s=3600))
    closer = psycopg.connect(db_url)
    closer.execute("UPDATE interactions SET state = 'closed' WHERE id = %s", (first.interaction_id,))  # not committed
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(engine.ingest, sms("race-close-2", continue_within_s=3600))
        # Wait until the ingest is blocked on the closer's row lock, i.e. it chose to continue
        # the interaction that is being closed.
        with psycopg.connect(db_url, autocommit=True) as watcher:
            deadline = time.monotonic() + 10
            while not watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            ).fetchone()[0]:
                assert time.monotonic() < deadline, "ingest never waited on the closing transaction"
                time.sleep(0.01)
        closer.commit()
        second = pending.result(timeout=10)
    closer.close()
    assert second.new_interaction and second.interaction_id != first.interaction_id
    with store.transaction() as conn:
        assert [m.external_id for m in interactions.messages(conn, first.interaction_id)] == ["race-close-1"]
        assert interactions.get(conn, second.interaction_id).state is InteractionState.queued


def test_attachments_are_stored_with_size_and_hash(engine, store):
    contact = mail(
        "<att@example.com>",
        attachments=[Attachment(filename="发票.pdf", content_type="application/pdf", content=b"%PDF-1.4 test")],
    )
    result = engine.ingest(contact)
    with store.transaction() as conn:
        row = conn.execute(
            "SELECT filename, size, encode(sha256, 'hex'), content FROM attachments WHERE message_id = %s",
            (result.message_id,),
        ).fetchone()
    assert row[0] == "发票.pdf" and row[1] == 13 and bytes(row[3]) == b"%PDF-1.4 test"
    assert row[2] == hashlib.sha256(b"%PDF-1.4 test").hexdigest()


def test_a_router_is_notified_after_commit(engine, db_url):
    with psycopg.connect(db_url, autocommit=True) as listener:
        listener.execute(f"LISTEN {interactions.QUEUE_NOTIFY_CHANNEL}")
        result = engine.ingest(sms("n-1"))
        notes = list(listener.notifies(timeout=5, stop_after=1))
    assert [n.payload for n in notes] == [str(result.interaction_id)]


def test_ingest_survives_psycopg_dropping_every_prepared_statement_after_a_rollback(db_url, cic_config, clock):
    from cic_engine.engine import Engine
    from cic_engine.store import Store

    store = Store(db_url, min_size=1, max_size=1).open()  # one connection: every step below uses it
    try:
        engine = Engine(store, cic_config, clock)
        engine.load_directory()
        assert not engine.ingest(sms("before")).duplicate
        with store.connection() as conn:
            for _ in range(6):  # psycopg prepares a statement run this often...
                conn.execute("SELECT count(*) FROM messages WHERE channel = %s", ("sms",))
        with pytest.raises(RuntimeError), store.transaction() as conn:
            conn.execute("SELECT 1")
            raise RuntimeError("something failed in a transaction")  # ...and answers its ROLLBACK with DEALLOCATE ALL
        assert not engine.ingest(sms("after")).duplicate
        assert count(store, "SELECT count(*) FROM messages") == 2
    finally:
        store.close()
