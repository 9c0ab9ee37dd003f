"""Interactions and their messages (with parts and attachments)."""

from __future__ import annotations

import hashlib

from ..models import Attachment, ContentPart, Interaction, Message
from . import Conn

# Routers LISTEN on this channel; the payload says what changed ("interaction:7", "agent:3").
QUEUE_NOTIFY_CHANNEL = "cic_queue"


def wake_routers(conn: Conn, why: str) -> None:
    """Tell every node's router there may be work; delivered when the transaction commits."""
    conn.execute("SELECT pg_notify(%s, %s)", (QUEUE_NOTIFY_CHANNEL, why))


class InteractionNotFound(LookupError):
    pass


def add_attachments(conn: Conn, message_id: int, attachments: list[Attachment]) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO attachments (message_id, seq, filename, content_type, content_id, inline, size, sha256,
                                        content, derived)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            [
                (message_id, seq, a.filename, a.content_type, a.content_id, a.inline, len(a.content),
                 hashlib.sha256(a.content).digest(), a.content, a.derived)
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
