"""The reads of one ingest, shaped for few round trips: every contact pays for them.

An ingest runs in a transaction that first takes an advisory lock on its sender's identity
(customers.identity_lock_key) and only then reads, in a later statement: under READ COMMITTED
that statement sees everything committed by whoever held the lock before (a snapshot is per
statement, so the lock and the reads cannot share one).

That one lock serialises ingests from one sender and a merge of its profile, and it also
de-duplicates: a redelivered contact has the same sender, so it waits for the first delivery
to commit and then finds its message. Two different contacts claiming one provider id still
cannot both land: (channel, external_id) is unique, and the engine retries the loser, which
then resolves as a duplicate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..models import InboundContact
from . import Conn


@dataclass(frozen=True)
class Resolution:
    seen: tuple[int, int, int] | None  # (message, interaction, customer) of an earlier ingest
    customer_id: int | None  # the sender's customer, when the identity is known
    continues: int | None  # the open interaction this contact continues (re-checked when written)


def resolve(conn: Conn, contact: InboundContact, kind: str, address: str, now: datetime) -> Resolution:
    """Whether this contact was ingested before, who sent it, and which open interaction it
    continues. Continuation, strongest first: a reply to one of our messages (email
    References), the same conversation key (a chat session), then the customer's latest open
    interaction on the same endpoint within the contact's window (an SMS conversation)."""
    row = conn.execute(
        """WITH seen AS (
               SELECT m.id, m.interaction_id, i.customer_id FROM messages m
               JOIN interactions i ON i.id = m.interaction_id
               WHERE m.channel = %(channel)s AND m.external_id = %(external_id)s),
           sender AS (
               SELECT customer_id FROM customer_identities WHERE kind = %(kind)s AND value = %(address)s),
           referenced AS (
               SELECT interaction_id FROM messages WHERE channel = %(channel)s AND external_id = ANY(%(refs)s)),
           continues AS (
               SELECT i.id FROM interactions i JOIN sender s ON s.customer_id = i.customer_id
               WHERE i.channel = %(channel)s AND i.state <> 'closed'
                 AND (i.id IN (SELECT interaction_id FROM referenced)
                      OR i.conversation_key = %(key)s
                      OR (i.endpoint = %(endpoint)s
                          AND i.last_message_at >= %(now)s - make_interval(secs => %(window)s::float8)))
               ORDER BY (i.id IN (SELECT interaction_id FROM referenced)) DESC,
                        (i.conversation_key IS NOT DISTINCT FROM %(key)s) DESC,
                        i.last_message_at DESC
               LIMIT 1)
           SELECT (SELECT id FROM seen), (SELECT interaction_id FROM seen), (SELECT customer_id FROM seen),
                  (SELECT customer_id FROM sender), (SELECT id FROM continues)""",
        {
            "channel": contact.channel.value,
            "external_id": contact.external_id,
            "kind": kind,
            "address": address,
            "refs": list(contact.thread_refs),
            "key": contact.conversation_key,
            "endpoint": contact.endpoint,
            "window": contact.continue_within_s,
            "now": now,
        },
    ).fetchone()
    assert row is not None
    seen = (row[0], row[1], row[2]) if row[0] is not None else None
    return Resolution(seen=seen, customer_id=row[3], continues=row[4])
