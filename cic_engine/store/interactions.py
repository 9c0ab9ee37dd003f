"""Interactions and their messages (with parts and attachments)."""

from __future__ import annotations

import hashlib
from datetime import datetime

from psycopg.types.json import Jsonb

from ..models import Attachment, ContentPart, InboundContact, Interaction, Message
from . import Conn

# Routers LISTEN on this channel; the payload is the interaction id.
QUEUE_NOTIFY_CHANNEL = "cic_queue"


class InteractionNotFound(LookupError):
    pass


class InteractionClosedMeanwhile(RuntimeError):
    """The interaction a contact was going to continue was closed by another transaction."""


def open_inbound(
    conn: Conn,
    contact: InboundContact,
    customer_id: int,
    queue_id: int | None,
    priority: int,
    now: datetime,
) -> int:
    """A new inbound interaction: queued for an agent, or closed at once when none is needed."""
    state = "queued" if contact.needs_agent else "closed"
    row = conn.execute(
        """WITH i AS (
               INSERT INTO interactions (channel, direction, state, endpoint, conversation_key, queue_id, priority,
                                         customer_id, subject, created_at, queued_at, last_message_at, closed_at)
               VALUES (%(channel)s, 'inbound', %(state)s, %(endpoint)s, %(key)s, %(queue)s, %(priority)s,
                       %(customer)s, %(subject)s, %(now)s, CASE WHEN %(queued)s THEN %(now)s::timestamptz END,
                       %(now)s, CASE WHEN %(queued)s THEN NULL ELSE %(now)s::timestamptz END)
               RETURNING id),
           t AS (
               INSERT INTO timeline_events (at, kind, customer_id, interaction_id, data)
               SELECT %(now)s, e.kind, %(customer)s, i.id, e.data FROM i,
                   (VALUES (1, 'interaction_opened', jsonb_build_object('channel', %(channel)s, 'endpoint', %(endpoint)s)),
                           (2, CASE WHEN %(queued)s THEN 'queued' ELSE 'closed' END,
                            jsonb_build_object('queue_id', %(queue)s::bigint, 'priority', %(priority)s::int))) AS e(n, kind, data)
               ORDER BY e.n)
           -- NOTIFY is delivered at commit, so a router never wakes for a row it cannot see yet.
           SELECT id, CASE WHEN %(queued)s THEN pg_notify(%(notify)s, id::text) END FROM i""",
        {
            "channel": contact.channel.value,
            "state": state,
            "endpoint": contact.endpoint,
            "key": contact.conversation_key,
            "queue": queue_id,
            "priority": priority,
            "customer": customer_id,
            "subject": contact.subject,
            "now": now,
            "queued": contact.needs_agent,
            "notify": QUEUE_NOTIFY_CHANNEL,
        },
    ).fetchone()
    assert row is not None
    return row[0]


def add_inbound_message(
    conn: Conn, interaction_id: int, customer_id: int, contact: InboundContact, now: datetime, *, opened: bool
) -> int:
    """The message, its parts and its timeline event in one statement.

    Appending re-checks that the interaction is still open (a row lock taken only here, not when
    it was looked up, which would cost a heap write per contact); when an agent closed it in
    between, nothing is written and InteractionClosedMeanwhile tells the caller to start over.
    `opened`: the interaction was created in this transaction (a self-service one is born closed).
    """
    row = conn.execute(
        """WITH u AS (
               UPDATE interactions SET last_message_at = %(now)s
               WHERE id = %(interaction)s AND (state <> 'closed' OR %(opened)s)
               RETURNING id),
           m AS (
               INSERT INTO messages (interaction_id, channel, direction, external_id, sender, sender_name, recipient,
                                     subject, metadata, received_at, created_at)
               SELECT u.id, %(channel)s, 'inbound', %(external_id)s, %(sender)s, %(sender_name)s,
                      %(recipient)s, %(subject)s, %(metadata)s, %(received_at)s, %(now)s FROM u
               RETURNING id),
           p AS (
               INSERT INTO message_parts (message_id, seq, content_type, body)
               SELECT m.id, part.seq, part.content_type, part.body
               FROM m, unnest(%(types)s::text[], %(bodies)s::text[]) WITH ORDINALITY AS part(content_type, body, seq)),
           t AS (
               INSERT INTO timeline_events (at, kind, customer_id, interaction_id, data)
               SELECT %(now)s, 'message_received', %(customer)s, %(interaction)s,
                      jsonb_build_object('message_id', m.id, 'channel', %(channel)s, 'external_id', %(external_id)s)
               FROM m)
           SELECT id FROM m""",
        {
            "interaction": interaction_id,
            "opened": opened,
            "customer": customer_id,
            "channel": contact.channel.value,
            "external_id": contact.external_id,
            "sender": contact.sender,
            "sender_name": contact.sender_name,
            "recipient": contact.recipient,
            "subject": contact.subject,
            "metadata": Jsonb(contact.metadata),
            "received_at": contact.received_at,
            "now": now,
            "types": [p.content_type for p in contact.parts],
            "bodies": [p.body for p in contact.parts],
        },
    ).fetchone()
    if row is None:
        raise InteractionClosedMeanwhile(f"interaction {interaction_id} was closed while {contact.external_id!r} arrived")
    if contact.attachments:
        add_attachments(conn, row[0], contact.attachments)
    return row[0]


def add_attachments(conn: Conn, message_id: int, attachments: list[Attachment]) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO attachments (message_id, seq, filename, content_type, content_id, inline, size, sha256, content)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            [
                (message_id, seq, a.filename, a.content_type, a.content_id, a.inline, len(a.content),
                 hashlib.sha256(a.content).digest(), a.content)
                for seq, a in enumerate(attachments, start=1)
            ],
        )


_INTERACTION_COLUMNS = """i.id, i.channel, i.direction, i.state, i.endpoint, q.name, i.priority, i.customer_id,
    a.login, i.subject, i.created_at, i.queued_at, i.last_message_at, i.closed_at"""


def get(conn: Conn, interaction_id: int) -> Interaction:
    row = conn.execute(
        f"""SELECT {_INTERACTION_COLUMNS} FROM interactions i
            LEFT JOIN queues q ON q.id = i.queue_id LEFT JOIN agents a ON a.id = i.assigned_agent_id
            WHERE i.id = %s""",  # noqa: S608 - fixed column list
        (interaction_id,),
    ).fetchone()
    if row is None:
        raise InteractionNotFound(f"no interaction {interaction_id}")
    keys = ("id", "channel", "direction", "state", "endpoint", "queue", "priority", "customer_id",
            "assigned_agent", "subject", "created_at", "queued_at", "last_message_at", "closed_at")
    return Interaction(**dict(zip(keys, row, strict=True)))


def messages(conn: Conn, interaction_id: int) -> list[Message]:
    rows = conn.execute(
        """SELECT m.id, m.interaction_id, m.channel, m.direction, m.external_id, m.sender, m.subject, m.created_at,
                  COALESCE((SELECT array_agg(p.content_type ORDER BY p.seq) FROM message_parts p WHERE p.message_id = m.id), '{}'),
                  COALESCE((SELECT array_agg(p.body ORDER BY p.seq) FROM message_parts p WHERE p.message_id = m.id), '{}'),
                  COALESCE((SELECT array_agg(a.filename ORDER BY a.seq) FROM attachments a WHERE a.message_id = m.id), '{}')
           FROM messages m WHERE m.interaction_id = %s ORDER BY m.id""",
        (interaction_id,),
    ).fetchall()
    return [
        Message(
            id=r[0], interaction_id=r[1], channel=r[2], direction=r[3], external_id=r[4], sender=r[5], subject=r[6],
            created_at=r[7],
            parts=[ContentPart(content_type=t, body=b) for t, b in zip(r[8], r[9], strict=True)],
            attachments=list(r[10]),
        )
        for r in rows
    ]


def for_customer(conn: Conn, customer_id: int) -> list[int]:
    return [r[0] for r in conn.execute(
        "SELECT id FROM interactions WHERE customer_id = %s ORDER BY id", (customer_id,)
    ).fetchall()]
