"""Contacts taken together (Engine.ingest_many, and the IngestBatcher that SMS uses): one
transaction for all, with the same outcome as taking them one by one."""

from __future__ import annotations

import gevent
import pytest

from cic_engine.identity import InvalidIdentity
from cic_engine.ingest_batch import IngestBatcher
from tests.core.test_ingest import count, sms


def test_a_batch_gives_each_contact_what_one_by_one_would(engine, store):
    results = engine.ingest_many([
        sms("a1", sender="13800138000", text="first", continue_within_s=3600),
        sms("b1", sender="13900139000", text="other sender"),
        sms("a2", sender="13800138000", text="second", continue_within_s=3600),  # continues a1's interaction
        sms("a1", sender="13800138000", text="first"),  # the same message again: a duplicate
        sms("x1", sender="not a number"),
    ])
    a1, b1, a2, again, bad = results
    assert not a1.duplicate and a1.new_customer and a1.new_interaction
    assert a2.interaction_id == a1.interaction_id and not a2.new_interaction and not a2.new_customer
    assert b1.customer_id != a1.customer_id and b1.interaction_id != a1.interaction_id
    assert again.duplicate and again.message_id == a1.message_id
    assert isinstance(bad, InvalidIdentity)
    with store.transaction() as conn:
        texts = conn.execute("""SELECT p.body FROM messages m JOIN message_parts p ON p.message_id = m.id
                                WHERE m.interaction_id = %s ORDER BY m.id""", (a1.interaction_id,)).fetchall()
    assert [t[0] for t in texts] == ["first", "second"]  # one sender's order kept
    assert count(store, "SELECT count(*) FROM messages") == 3


def test_a_contact_known_under_another_id_is_a_duplicate(engine, store):
    first = engine.ingest(sms("slot-41"))
    again, = engine.ingest_many([sms("slot-42")], [["slot-41"]])
    assert again.duplicate and again.message_id == first.message_id
    assert count(store, "SELECT count(*) FROM messages") == 1


def test_a_failed_batch_writes_nothing(engine, store, monkeypatch):
    from cic_engine.store import ingest as store_ingest

    def closed(*args, **kwargs):
        raise store_ingest.InteractionClosedMeanwhile("closed meanwhile")
    monkeypatch.setattr(store_ingest, "write", closed)
    with pytest.raises(store_ingest.InteractionClosedMeanwhile):
        engine.ingest_many([sms("m1", sender="13800138000"), sms("m2", sender="13900139000")])
    assert count(store, "SELECT count(*) FROM messages") == 0
    assert count(store, "SELECT count(*) FROM customers") == 0


def test_greenlets_handing_contacts_in_at_once_share_a_transaction_and_each_gets_its_own_result(engine, store):
    batcher = IngestBatcher(engine)
    contacts = [sms(f"m{n}", sender=f"1380013{n:04d}") for n in range(20)] + [sms("bad", sender="nope")]
    jobs = [gevent.spawn(batcher.ingest, c) for c in contacts]
    gevent.joinall(jobs, timeout=60)
    # Seen twice under a full parallel run, never alone: say what was still waiting, and why.
    assert all(j.ready() for j in jobs), (
        f"{sum(not j.ready() for j in jobs)} of {len(jobs)} still waiting after 60 s; batches={batcher.batches}, "
        f"writer={batcher._writer!r}, pending={len(batcher._pending)}")
    assert [j.value.duplicate for j in jobs[:20]] == [False] * 20, [j.exception for j in jobs[:20]]
    assert isinstance(jobs[20].exception, InvalidIdentity)
    assert batcher.batches < 20  # they were written together, not one by one
    assert count(store, "SELECT count(*) FROM messages") == 20


def test_when_a_batch_fails_its_contacts_are_taken_one_by_one(engine, store, monkeypatch):
    batcher = IngestBatcher(engine)
    monkeypatch.setattr(engine, "ingest_many", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom")))
    # engine.ingest calls ingest_many too, so give it its own path back for the one-by-one retry
    original = type(engine).ingest_many
    monkeypatch.setattr(engine, "ingest", lambda contact, known_as=(): original(engine, [contact], [known_as])[0])
    jobs = [gevent.spawn(batcher.ingest, sms(f"m{n}", sender=f"1390013{n:04d}")) for n in range(5)]
    gevent.joinall(jobs, timeout=30)
    assert all(j.successful() and not j.value.duplicate for j in jobs)
    assert count(store, "SELECT count(*) FROM messages") == 5
