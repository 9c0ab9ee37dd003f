"""The outbox's lease: a message being sent belongs to the node sending it while that node
renews its lease; when the node dies, another node sending for the same channel takes it once
the lease runs out, and the dead node, restarted, takes back its own at once."""

from __future__ import annotations

from datetime import timedelta

from cic_engine.models import Channel, ContentPart, InboundContact
from cic_engine.store import outbox as store_outbox


def queued_reply(engine, store, clock) -> int:
    result = engine.ingest(InboundContact(channel=Channel.email, endpoint="support@example.com",
                                          external_id="<lease@example.org>", sender="li.na@example.org",
                                          parts=[ContentPart(body="Hi")]))
    with store.transaction() as conn:
        return store_outbox.enqueue(conn, result.interaction_id, "email", "support", "li.na@example.org",
                                    {"text": "Hello"}, "<reply@example.com>", clock.now())


def test_a_leased_message_waits_for_its_lease_and_then_another_node_takes_it(engine, store, clock):
    outbox_id = queued_reply(engine, store, clock)
    with store.transaction() as conn:
        assert store_outbox.claim(conn, "support", clock.now(), "node-a", 30)[0] == outbox_id
        assert store_outbox.claim(conn, "support", clock.now(), "node-b", 30) is None  # node A is sending it
    clock.advance(20)
    with store.transaction() as conn:
        store_outbox.renew(conn, outbox_id, "node-a", clock.now(), 30)  # still alive: renewed
    clock.advance(25)
    with store.transaction() as conn:
        assert store_outbox.claim(conn, "support", clock.now(), "node-b", 30) is None  # 45 s on, lease until 50 s
    clock.advance(6)
    with store.transaction() as conn:
        row = store_outbox.claim(conn, "support", clock.now(), "node-b", 30)  # node A stopped renewing: taken
        assert row[0] == outbox_id and row[6] == 2  # a second attempt, with the same Message-ID
        assert row[7] == "<reply@example.com>"


def test_a_restarted_node_releases_only_what_it_was_sending(engine, store, clock):
    outbox_id = queued_reply(engine, store, clock)
    with store.transaction() as conn:
        store_outbox.claim(conn, "support", clock.now(), "node-a", 30)
        assert store_outbox.release_stuck(conn, ["support"], "node-b") == 0  # not node B's to release
        assert store_outbox.release_stuck(conn, ["support"], "node-a") == 1  # node A's own, after its restart
        assert store_outbox.claim(conn, "support", clock.now() + timedelta(seconds=1), "node-a", 30)[0] == outbox_id
