"""What the agent inbox reads: an agent's work list, one interaction with its customer and
messages, the customer's history and search, each limited to what the reader may see
(visibility.py)."""

from __future__ import annotations

import json
from typing import Any

from . import Conn
from .sessions import Principal
from .visibility import CUSTOMER, INTERACTION, who

_SUMMARY_COLUMNS = 14
_SUMMARY = """i.id, i.channel, i.direction, i.state, q.name, i.subject, i.created_at, i.last_message_at,
              i.offer_expires_at, i.customer_id, c.display_name, c.tier, i.campaign_id,
              (SELECT p.body FROM messages m JOIN message_parts p ON p.message_id = m.id AND p.seq = 1
               WHERE m.interaction_id = i.id ORDER BY m.id DESC LIMIT 1)"""


def _summary(row: tuple) -> dict[str, Any]:
    keys = ("id", "channel", "direction", "state", "queue", "subject", "created_at", "last_message_at",
            "offer_expires_at", "customer_id", "customer_name", "tier", "campaign_id", "last_text")
    summary = dict(zip(keys, row, strict=True))
    summary["last_text"] = (summary["last_text"] or "")[:200]
    return summary


def work(conn: Conn, agent_id: int) -> dict[str, list[dict[str, Any]]]:
    """The agent's offers (with their deadline) and the interactions they hold."""
    rows = conn.execute(
        f"""SELECT {_SUMMARY}, (SELECT count(*) FROM messages m WHERE m.interaction_id = i.id AND m.direction = 'inbound'),
                   (SELECT m.direction FROM messages m WHERE m.interaction_id = i.id ORDER BY m.id DESC LIMIT 1)
            FROM interactions i LEFT JOIN queues q ON q.id = i.queue_id
            JOIN customers c ON c.id = i.customer_id
            WHERE (i.state = 'offered' AND %(a)s = ANY(i.offered_to))
               OR (i.state IN ('active', 'wrap_up') AND i.assigned_agent_id = %(a)s)
            ORDER BY i.id""", {"a": agent_id}).fetchall()  # noqa: S608 - constant
    items = [_summary(r[:_SUMMARY_COLUMNS]) | {"inbound_count": r[_SUMMARY_COLUMNS], "last_direction": r[_SUMMARY_COLUMNS + 1]}
             for r in rows]
    return {"offers": [s for s in items if s["state"] == "offered"],
            "mine": [s for s in items if s["state"] != "offered"]}


def interaction(conn: Conn, interaction_id: int) -> dict[str, Any] | None:
    row = conn.execute(
        f"""SELECT {_SUMMARY}, a.login, i.disposition, i.offered_to, i.assigned_agent_id, i.wrap_up_until
            FROM interactions i LEFT JOIN queues q ON q.id = i.queue_id JOIN customers c ON c.id = i.customer_id
            LEFT JOIN agents a ON a.id = i.assigned_agent_id WHERE i.id = %s""",  # noqa: S608 - constant
        (interaction_id,)).fetchone()
    if row is None:
        return None
    n = _SUMMARY_COLUMNS
    view = _summary(row[:n])
    view.update(assigned_agent=row[n], disposition=row[n + 1], offered_to=list(row[n + 2]), assigned_agent_id=row[n + 3],
                wrap_up_until=row[n + 4])
    return view


def messages(conn: Conn, interaction_id: int, after_id: int = 0) -> list[dict[str, Any]]:
    rows = conn.execute(
        """SELECT m.id, m.direction, m.channel, m.sender, m.sender_name, m.recipient, m.subject, m.created_at,
                  m.metadata, a.name,
                  COALESCE((SELECT jsonb_object_agg(p.content_type, p.body) FROM message_parts p
                            WHERE p.message_id = m.id), '{}'),
                  COALESCE((SELECT jsonb_agg(jsonb_build_object('id', f.id, 'filename', f.filename,
                                                                'content_type', f.content_type, 'size', f.size,
                                                                'inline', f.inline, 'derived', f.derived)
                                            ORDER BY f.seq)
                            FROM attachments f WHERE f.message_id = m.id), '[]')
           FROM messages m
           LEFT JOIN outbox o ON o.id = (m.metadata ->> 'outbox_id')::bigint
           LEFT JOIN agents a ON a.id = (o.payload ->> 'agent_id')::bigint
           WHERE m.interaction_id = %s AND m.id > %s ORDER BY m.id""", (interaction_id, after_id)).fetchall()
    return [{
        "id": r[0], "direction": r[1], "channel": r[2], "sender": r[3], "sender_name": r[4], "recipient": r[5],
        "subject": r[6], "at": r[7], "agent_name": r[9],
        "text": r[10].get("text/plain", ""), "html": r[10].get("text/html"),
        "problems": r[8].get("problems"), "attachments": r[11],
        "claimed_email": r[8].get("claimed_email"),  # said by a chatting customer, not proved
        "forwarded": _forwarded(r[8].get("forwarded")),  # mails attached to a mail, shown collapsed
    } for r in rows]


def _forwarded(value: str | None) -> list[dict[str, Any]]:
    try:
        found = json.loads(value) if value else []
    except ValueError:
        return []
    return found if isinstance(found, list) else []


def customer_history(conn: Conn, viewer: Principal, customer_id: int, limit: int = 50) -> list[dict[str, Any]]:
    """The customer's interactions on any channel that the viewer may see, newest first
    (summaries, with the recordings of calls)."""
    rows = conn.execute(
        f"""SELECT {_SUMMARY},
                   ARRAY(SELECT t.data ->> 'recording' FROM timeline_events t
                         WHERE t.interaction_id = i.id AND t.kind = 'recording' ORDER BY t.id)
            FROM interactions i LEFT JOIN queues q ON q.id = i.queue_id
            JOIN customers c ON c.id = i.customer_id
            WHERE i.customer_id = %(customer)s AND {INTERACTION}
            ORDER BY i.last_message_at DESC, i.id DESC LIMIT %(limit)s""",  # noqa: S608 - constant
        {**who(viewer), "customer": customer_id, "limit": limit}).fetchall()
    return [{**_summary(r[:_SUMMARY_COLUMNS]), "recordings": [x for x in r[_SUMMARY_COLUMNS] if x]} for r in rows]


def attachment(conn: Conn, attachment_id: int) -> tuple[int, str, str, bytes, bool] | None:
    """(interaction id, filename, content type, content, made by the engine) of one attachment."""
    row = conn.execute(
        """SELECT m.interaction_id, f.filename, f.content_type, f.content, f.derived FROM attachments f
           JOIN messages m ON m.id = f.message_id WHERE f.id = %s""", (attachment_id,)).fetchone()
    return (row[0], row[1], row[2], bytes(row[3]), row[4]) if row else None



def events(conn: Conn, interaction_id: int) -> list[dict[str, Any]]:
    """The interaction's timeline (offers, notes, transfers, holds, recordings...), oldest first."""
    rows = conn.execute(
        """SELECT t.id, t.at, t.kind, t.actor, a.name, t.data FROM timeline_events t
           LEFT JOIN agents a ON a.id = t.agent_id WHERE t.interaction_id = %s ORDER BY t.id""",
        (interaction_id,)).fetchall()
    return [{"id": r[0], "at": r[1], "kind": r[2], "actor": r[3], "agent_name": r[4], "data": r[5]} for r in rows]


def search(conn: Conn, principal: Principal, text: str, limit: int = 20) -> dict[str, list[dict[str, Any]]]:
    """Customers the principal may see by name or any identity (phone, email...), and the
    interactions they may see by id, subject, customer or the text of any of their messages
    (a substring: an order number, 发票), newest first."""
    like = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    customers = conn.execute(
        f"""SELECT cu.id, cu.display_name, cu.tier, ARRAY(SELECT kind || ': ' || value FROM customer_identities
                                                          WHERE customer_id = cu.id ORDER BY id)
           FROM customers cu
           WHERE cu.merged_into IS NULL AND (cu.display_name ILIKE %(like)s OR EXISTS (
                 SELECT FROM customer_identities ci WHERE ci.customer_id = cu.id AND ci.value ILIKE %(like)s))
             AND {CUSTOMER}
           ORDER BY cu.id DESC LIMIT %(limit)s""",  # noqa: S608 - constant
        {**who(principal), "like": like, "limit": limit}).fetchall()
    number = int(text) if text.isdigit() and len(text) < 18 else None
    interactions = conn.execute(
        f"""SELECT {_SUMMARY} FROM interactions i LEFT JOIN queues q ON q.id = i.queue_id
            JOIN customers c ON c.id = i.customer_id
            WHERE (i.id = %(number)s OR i.subject ILIKE %(like)s OR c.display_name ILIKE %(like)s
                   OR i.customer_id = ANY(%(customers)s)
                   OR i.id IN (SELECT m.interaction_id FROM message_parts p JOIN messages m ON m.id = p.message_id
                               WHERE p.body ILIKE %(like)s AND p.content_type = 'text/plain'))
              AND {INTERACTION}
            ORDER BY i.last_message_at DESC LIMIT %(limit)s""",  # noqa: S608 - constants
        {**who(principal), "number": number, "like": like, "customers": [r[0] for r in customers],
         "limit": limit}).fetchall()
    return {"customers": [{"id": r[0], "display_name": r[1], "tier": r[2], "identities": list(r[3])} for r in customers],
            "interactions": [_summary(r) for r in interactions]}
