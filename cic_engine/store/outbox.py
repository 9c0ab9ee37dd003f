"""The reply outbox in SQL: written in the agent's transaction, sent by the node owning the
channel adapter, retried with backoff; every send and failure is on the timeline."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg.types.json import Jsonb

from ..models import Attachment
from . import Conn
from .interactions import add_attachments

WEBHOOK = "webhook"  # the channel of webhook deliveries (store/integrations.py)


def enqueue(conn: Conn, interaction_id: int, channel: str, adapter: str, recipient: str, payload: dict[str, Any],
            external_id: str | None, now: datetime) -> int:
    row = conn.execute(
        """INSERT INTO outbox (interaction_id, channel, adapter, recipient, payload, external_id, created_at,
                               next_attempt_at)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id""",
        (interaction_id, channel, adapter, recipient, Jsonb(payload), external_id, now, now)).fetchone()
    notify_queued(conn, row[0], interaction_id, adapter, now)
    return row[0]


def notify_queued(conn: Conn, outbox_id: int, interaction_id: int | None, adapter: str, now: datetime) -> None:
    """Heard by every node on cic_events (outbox.queued), at commit; the node owning the adapter sends it."""
    conn.execute(
        """SELECT pg_notify('cic_events', jsonb_build_object(
               'event', 'outbox.queued', 'at', %s::timestamptz, 'interaction_id', %s::bigint,
               'data', jsonb_build_object('outbox_id', %s::bigint, 'adapter', %s::text))::text)""",
        (now, interaction_id, outbox_id, adapter))


def claim(conn: Conn, adapter: str, now: datetime, node: str = "", lease_s: float = 30.0) -> tuple | None:
    """The adapter's next due message, now `sending` under this node's lease (a message whose
    sender's lease ran out counts as due); None when nothing is due. The due ones are read in
    the index's order (outbox_due), so the first that may go is found without sorting them all."""
    return conn.execute(
        """UPDATE outbox o SET state = 'sending', attempts = o.attempts + 1, sending_node = %(node)s,
                              lease_until = %(now)s + make_interval(secs => %(lease)s)
           WHERE o.id = (SELECT d.id FROM outbox d WHERE d.adapter = %(adapter)s
                           AND d.state IN ('pending', 'sending')
                           AND ((d.state = 'pending' AND d.next_attempt_at <= %(now)s)
                                OR (d.state = 'sending' AND d.lease_until < %(now)s
                                    AND NOT (d.payload ? 'at_most_once')))
                           -- One with an ordering key (a webhook's interaction) waits for the
                           -- ones before it: they are sent, or have failed for good.
                           AND (d.ordering_key IS NULL OR NOT EXISTS (
                                  SELECT FROM outbox e WHERE e.adapter = d.adapter AND e.ordering_key = d.ordering_key
                                    AND e.id < d.id AND e.state IN ('pending', 'sending')))
                         ORDER BY d.next_attempt_at, d.id LIMIT 1 FOR UPDATE SKIP LOCKED)
           RETURNING o.id, o.interaction_id, o.channel, o.adapter, o.recipient, o.payload, o.attempts, o.external_id""",
        {"adapter": adapter, "now": now, "node": node, "lease": lease_s}).fetchone()


def renew(conn: Conn, outbox_id: int, node: str, now: datetime, lease_s: float) -> None:
    conn.execute("""UPDATE outbox SET lease_until = %s + make_interval(secs => %s)
                    WHERE id = %s AND state = 'sending' AND sending_node = %s""", (now, lease_s, outbox_id, node))


def next_due(conn: Conn, adapters: list[str]) -> datetime | None:
    row = conn.execute("SELECT min(next_attempt_at) FROM outbox WHERE adapter = ANY(%s) AND state = 'pending'",
                       (adapters,)).fetchone()
    return row[0] if row else None


INTERRUPTED = ("its sending was interrupted (the node stopped) and it may have gone out: not sent again, so "
               "that nobody gets it twice")


def release_stuck(conn: Conn, adapters: list[str], node: str = "", now: datetime | None = None) -> int:
    """At start-up: messages this node was sending when it stopped are due again at once (the
    same Message-ID is reused, so a message that did go out is recognised as a duplicate);
    another node's stay leased to it. A message sent at most once (a campaign's) fails instead,
    as do such messages of a node whose lease ran out: SMPP, for one, cannot tell whether a
    submit the node never heard the answer to was taken."""
    interrupted = conn.execute(
        """SELECT id FROM outbox WHERE adapter = ANY(%s) AND state = 'sending' AND payload ? 'at_most_once'
             AND (sending_node IS NULL OR sending_node = %s OR lease_until < %s) FOR UPDATE""",
        (adapters, node, now or datetime.now(UTC))).fetchall()
    for (outbox_id,) in interrupted:
        failed(conn, outbox_id, INTERRUPTED, now or datetime.now(UTC))
    return conn.execute("""UPDATE outbox SET state = 'pending', lease_until = NULL WHERE adapter = ANY(%s)
                           AND state = 'sending' AND (sending_node IS NULL OR sending_node = %s)""",
                        (adapters, node)).rowcount + len(interrupted)


def sent(conn: Conn, outbox_id: int, external_id: str | None, now: datetime,
         detail: dict[str, Any] | None = None) -> None:
    row = conn.execute(
        """UPDATE outbox SET state = 'sent', sent_at = %s, external_id = COALESCE(%s, external_id), last_error = NULL
           WHERE id = %s RETURNING interaction_id, channel, recipient, payload, external_id""",
        (now, external_id, outbox_id)).fetchone()
    interaction_id, channel, recipient, payload, ext = row
    if channel == WEBHOOK:
        return  # told to another system, not said to the customer: nothing on the conversation
    message = conn.execute(
        """INSERT INTO messages (interaction_id, channel, direction, external_id, recipient, subject, metadata,
                                 received_at, created_at)
           VALUES (%s, %s, 'outbound', %s, %s, %s, %s, %s, %s) ON CONFLICT (channel, external_id) DO NOTHING
           RETURNING id""",
        (interaction_id, channel, ext, recipient, payload.get("subject"),
         Jsonb({"outbox_id": outbox_id, "kind": payload.get("kind", "reply")}), now, now)).fetchone()
    if message is not None:
        conn.execute("INSERT INTO message_parts (message_id, seq, content_type, body) VALUES (%s, 1, 'text/plain', %s)",
                     (message[0], payload.get("text", "")))
        # The files that went with it, on the message: the inbox shows what was sent, and a
        # chat's customer downloads them from there.
        files = [Attachment(filename=a["filename"], content_type=a["content_type"], content=base64.b64decode(a["content"]))
                 for a in payload.get("attachments", [])]
        if files:
            add_attachments(conn, message[0], files)
    conn.execute("SELECT cic_record('message_sent', %s, customer_id, id, %s, NULL, %s) FROM interactions WHERE id = %s",
                 (now, payload.get("agent_id"), Jsonb({**(detail or {}), "outbox_id": outbox_id, "channel": channel,
                                                      "kind": payload.get("kind", "reply"), "external_id": ext}),
                  interaction_id))


def retry(conn: Conn, outbox_id: int, error: str, after_s: float, now: datetime, attempt: int = 1,
          detail: dict[str, Any] | None = None) -> None:
    row = conn.execute(
        """UPDATE outbox SET state = 'pending', last_error = %s, next_attempt_at = %s WHERE id = %s
           RETURNING interaction_id, channel""", (error, now + timedelta(seconds=after_s), outbox_id)).fetchone()
    if row is not None and detail:
        # Only channels that report something worth seeing (a fax's busy line) put a retry on the timeline.
        conn.execute("SELECT cic_record('delivery_retry', %s, customer_id, id, NULL, NULL, %s) FROM interactions "
                     "WHERE id = %s", (now, Jsonb({**detail, "outbox_id": outbox_id, "channel": row[1], "error": error,
                                                   "attempt": attempt, "retry_in_s": after_s}), row[0]))


def failed(conn: Conn, outbox_id: int, error: str, now: datetime, kind: str = "delivery_failed",
           detail: dict[str, Any] | None = None) -> bool:
    row = conn.execute(
        "UPDATE outbox SET state = 'failed', last_error = %s WHERE id = %s RETURNING interaction_id, channel",
        (error, outbox_id)).fetchone()
    if row is None:
        return False
    if row[1] == WEBHOOK:
        return True  # in the webhook delivery log, for admins; not on the customer's timeline
    conn.execute("SELECT cic_record(%s, %s, customer_id, id, NULL, NULL, %s) FROM interactions WHERE id = %s",
                 (kind, now, Jsonb({**(detail or {}), "outbox_id": outbox_id, "channel": row[1], "error": error}),
                  row[0]))
    return True


def by_external_id(conn: Conn, channel: str, external_id: str) -> int | None:
    row = conn.execute("SELECT id FROM outbox WHERE channel = %s AND external_id = %s", (channel, external_id)).fetchone()
    return row[0] if row else None
