"""Voice in SQL: call-control commands (asked by the inbox, run by the node holding the call),
callbacks, and outbound calls (click-to-call) as interactions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from . import Conn
from .customers import find_or_create


@dataclass(frozen=True)
class CallCommand:
    id: int
    interaction_id: int | None
    action: str
    args: dict[str, Any]
    agent_id: int | None
    state: str
    result: dict[str, Any] | None
    error: str | None


_COLUMNS = "id, interaction_id, action, args, agent_id, state, result, error"


def _command(row) -> CallCommand:
    return CallCommand(*row)


def ask(conn: Conn, action: str, interaction_id: int | None, agent_id: int | None, args: dict, now: datetime) -> int:
    """A new pending command; every node hears of it (call.command on cic_events)."""
    row = conn.execute(
        """INSERT INTO call_commands (interaction_id, action, args, agent_id, created_at)
           VALUES (%s, %s, %s, %s, %s) RETURNING id""",
        (interaction_id, action, Jsonb(args), agent_id, now)).fetchone()
    return row[0]


def get(conn: Conn, command_id: int) -> CallCommand | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM call_commands WHERE id = %s", (command_id,)).fetchone()  # noqa: S608
    return _command(row) if row else None


def claim(conn: Conn, command_id: int, node: str, adapter: str) -> CallCommand | None:
    """Take a pending command to run it here; None when another node took it or nobody waits."""
    row = conn.execute(
        f"""UPDATE call_commands SET state = 'running', node = %s, adapter = %s
            WHERE id = %s AND state = 'pending' RETURNING {_COLUMNS}""",  # noqa: S608
        (node, adapter, command_id)).fetchone()
    return _command(row) if row else None


def finish(conn: Conn, command_id: int, now: datetime, result: dict | None = None, error: str | None = None) -> None:
    conn.execute(
        """UPDATE call_commands SET state = CASE WHEN %s::text IS NULL THEN 'done' ELSE 'failed' END,
                  result = %s, error = %s, done_at = %s
           WHERE id = %s AND state = 'running'""",
        (error, Jsonb(result) if result is not None else None, error, now, command_id))


def give_up(conn: Conn, command_id: int, now: datetime, error: str) -> bool:
    """The asker stops waiting: a command still pending fails, so nobody runs it later."""
    return conn.execute(
        """UPDATE call_commands SET state = 'failed', error = %s, done_at = %s
           WHERE id = %s AND state = 'pending' RETURNING id""", (error, now, command_id)).fetchone() is not None


def claim_callback(conn: Conn, offer_event_id: int, interaction_id: int, agent_id: int, node: str,
                   adapter: str, now: datetime) -> str | None:
    """One node dials a callback for one offer: the number to dial, None when the interaction
    is no callback offered to this agent or another node dials it already."""
    row = conn.execute(
        """WITH i AS (
               SELECT callback_number FROM interactions
               WHERE id = %(i)s AND state = 'offered' AND callback AND callback_number IS NOT NULL
                 AND %(a)s = ANY (offered_to)),
           c AS (
               INSERT INTO call_commands (interaction_id, action, agent_id, offer_event_id, state, node, adapter,
                                          args, created_at)
               SELECT %(i)s, 'callback', %(a)s, %(e)s, 'running', %(node)s, %(adapter)s,
                      jsonb_build_object('number', i.callback_number), %(now)s FROM i
               ON CONFLICT (offer_event_id) DO NOTHING
               RETURNING args ->> 'number')
           SELECT * FROM c""",
        {"i": interaction_id, "a": agent_id, "e": offer_event_id, "node": node, "adapter": adapter, "now": now},
    ).fetchone()
    return row[0] if row else None


def request_callback(conn: Conn, interaction_id: int, number: str, now: datetime, actor: str) -> bool:
    """A waiting call becomes a callback at the same place in line; False when it no longer waits."""
    row = conn.execute(
        """UPDATE interactions SET callback = true, callback_number = %s
           WHERE id = %s AND state IN ('queued', 'offered') RETURNING id""", (number, interaction_id)).fetchone()
    if row is None:
        return False
    conn.execute("SELECT cic_record('callback_requested', %s, customer_id, id, NULL, %s, %s) FROM interactions "
                 "WHERE id = %s", (now, actor, Jsonb({"number": number}), interaction_id))
    return True


_START_OUTBOUND = """
WITH ag AS (
    SELECT id FROM agents WHERE id = %(a)s AND presence = 'available' AND loads[1] < caps[1]
    FOR UPDATE),
i AS (
    INSERT INTO interactions (channel, direction, state, endpoint, queue_id, customer_id, assigned_agent_id,
                              created_at, last_message_at, subject)
    SELECT 'voice', 'outbound', 'active', %(endpoint)s, %(q)s, %(c)s, ag.id, %(now)s, %(now)s, %(subject)s FROM ag
    RETURNING id),
a AS (
    UPDATE agents SET loads[1] = loads[1] + 1, updated_at = %(now)s FROM ag WHERE agents.id = ag.id)
SELECT i.id, cic_record('outbound_call', %(now)s, %(c)s, i.id, %(a)s, %(actor)s,
                        jsonb_build_object('channel', 'voice', 'number', %(number)s::text, 'offered', true))
FROM i"""


def start_outbound(conn: Conn, agent_id: int, number: str, queue_id: int | None, endpoint: str, now: datetime,
                   actor: str) -> int | None:
    """An outbound call an agent makes (click-to-call): the customer of the number (created if
    nobody has it), an active interaction held by the agent in the voice slot. None when the
    agent is not available with a free voice slot."""
    customer_id, _ = find_or_create(conn, "phone", number, number, now)
    row = conn.execute(_START_OUTBOUND, {"a": agent_id, "endpoint": endpoint, "q": queue_id, "c": customer_id,
                                         "now": now, "subject": f"Call to {number}", "number": number,
                                         "actor": actor}).fetchone()
    return row[0] if row else None


def live_calls(conn: Conn, adapter: str) -> list[tuple[int, str, int | None, str]]:
    """(interaction, state, agent, call uuid) of the calls that came in through `adapter` and
    whose interaction is not over: each interaction's latest call. Interactions waiting for a
    callback or holding a voicemail are not calls on the line, so they are not listed."""
    return conn.execute(
        """SELECT DISTINCT ON (i.id) i.id, i.state, i.assigned_agent_id, m.external_id
           FROM interactions i JOIN messages m ON m.interaction_id = i.id
           WHERE i.channel = 'voice' AND i.state IN ('queued', 'offered', 'active') AND i.callback_number IS NULL
             AND m.channel = 'voice' AND m.direction = 'inbound' AND m.metadata->>'adapter' = %s
             AND NOT EXISTS (SELECT 1 FROM messages v WHERE v.interaction_id = i.id AND v.channel = 'voice'
                             AND v.external_id LIKE '%%:%%')
           ORDER BY i.id, m.id DESC""", (adapter,)).fetchall()
