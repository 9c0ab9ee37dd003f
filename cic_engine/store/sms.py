"""SMS: parts of long inbound messages waiting for the rest, and our submits' SMSC ids."""

from __future__ import annotations

from datetime import datetime, timedelta

from . import Conn


def add_part(conn: Conn, adapter: str, sender: str, reference: int, total: int, seq: int, data_coding: int,
             payload: bytes, now: datetime, forget_after_s: float) -> list[tuple[int, int, bytes]] | None:
    """Keep one part; when the set is complete, its (seq, data_coding, payload) in order.
    A set left incomplete longer than forget_after_s is dropped first, so that a reference the
    phone uses again starts a new set."""
    conn.execute("""DELETE FROM sms_parts WHERE adapter = %s AND sender = %s AND reference = %s AND total = %s
                    AND received_at < %s""",
                 (adapter, sender, reference, total, now - timedelta(seconds=forget_after_s)))
    conn.execute(
        """INSERT INTO sms_parts (adapter, sender, reference, total, seq, data_coding, payload, received_at)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING""",
        (adapter, sender, reference, total, seq, data_coding, payload, now))
    rows = conn.execute(
        """SELECT seq, data_coding, payload FROM sms_parts WHERE adapter = %s AND sender = %s AND reference = %s
           AND total = %s ORDER BY seq""", (adapter, sender, reference, total)).fetchall()
    return [(r[0], r[1], bytes(r[2])) for r in rows] if len(rows) == total else None


def forget_set(conn: Conn, adapter: str, sender: str, reference: int, total: int) -> None:
    conn.execute("DELETE FROM sms_parts WHERE adapter = %s AND sender = %s AND reference = %s AND total = %s",
                 (adapter, sender, reference, total))


def submitted(conn: Conn, adapter: str, outbox_id: int, ids: list[str], now: datetime) -> list[dict]:
    """Write the SMSC's ids of what we sent, and apply the receipts that came first; those
    receipts are returned (stat, outcome, error) for the timeline."""
    for part, smsc_id in enumerate(ids, start=1):
        conn.execute(
            """INSERT INTO sms_submits (smsc_message_id, adapter, outbox_id, part, parts, updated_at)
               VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (adapter, smsc_message_id) DO NOTHING""",
            (smsc_id, adapter, outbox_id, part, len(ids), now))
    early = conn.execute(
        """WITH e AS (
               DELETE FROM sms_early_receipts e USING sms_submits s
               WHERE e.adapter = %s AND s.adapter = e.adapter AND s.outbox_id = %s
                 AND ltrim(upper(s.smsc_message_id), '0') = ANY(e.forms)
               RETURNING e.*, s.smsc_message_id)
           UPDATE sms_submits s SET state = e.outcome, error = e.error, updated_at = %s
           FROM e WHERE s.adapter = e.adapter AND s.smsc_message_id = e.smsc_message_id
           RETURNING e.stat, e.outcome, e.error""", (adapter, outbox_id, now)).fetchall()
    return [{"stat": r[0], "outcome": r[1], "error": r[2]} for r in early]


def receipt(conn: Conn, adapter: str, smsc_ids: list[str], stat: str, outcome: str, error: str | None,
            now: datetime) -> tuple[int, int, list[str]] | None:
    """Record a receipt on the part it names (`smsc_ids`: the forms of its id, receipts.id_forms);
    (interaction, outbox id, the states of all its parts). A receipt for an id not written yet
    is kept for `submitted` to apply, and None returned."""
    row = conn.execute(
        """UPDATE sms_submits SET state = %s, error = %s, updated_at = %s
           WHERE adapter = %s AND ltrim(upper(smsc_message_id), '0') = ANY(%s) RETURNING outbox_id""",
        (outcome, error, now, adapter, smsc_ids)).fetchone()
    if row is None:
        conn.execute(
            """INSERT INTO sms_early_receipts (adapter, normal_id, forms, outcome, stat, error, received_at)
               VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (adapter, normal_id) DO UPDATE
               SET outcome = EXCLUDED.outcome, stat = EXCLUDED.stat, error = EXCLUDED.error""",
            (adapter, smsc_ids[0], smsc_ids, outcome, stat, error, now))
        return None
    states = [r[0] for r in conn.execute("SELECT state FROM sms_submits WHERE outbox_id = %s ORDER BY part",
                                         (row[0],)).fetchall()]
    interaction = conn.execute("SELECT interaction_id FROM outbox WHERE id = %s", (row[0],)).fetchone()
    return interaction[0], row[0], states


def opted_out(conn: Conn, interaction_id: int) -> bool:
    row = conn.execute(
        """SELECT 'sms' = ANY(c.opted_out_channels) FROM interactions i JOIN customers c ON c.id = i.customer_id
           WHERE i.id = %s""", (interaction_id,)).fetchone()
    return bool(row and row[0])


