"""Cases in SQL: opening, status changes with the SLA clock, what a department or a customer's
screen pop reads, and the SLA watcher's scans. Every change is a timeline event with the case's
id in its data (cic_record), so the case's history and the customer's are one."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from psycopg.types.json import Jsonb

from . import Conn, visibility
from .visibility import Viewer

_CASE = """c.id, c.customer_id, c.category, c.severity, c.description, d.name, o.login, c.status, c.opened_at,
           c.warn_at, c.due_at, c.paused_since, c.warned_at, c.breached_at, c.resolved_at, c.closed_at, c.reopened,
           c.department_id, cu.display_name"""
_KEYS = ("id", "customer_id", "category", "severity", "description", "department", "owner", "status", "opened_at",
         "warn_at", "due_at", "paused_since", "warned_at", "breached_at", "resolved_at", "closed_at", "reopened",
         "department_id", "customer_name")
_FROM = """cases c JOIN departments d ON d.id = c.department_id LEFT JOIN agents o ON o.id = c.owner_agent_id
           JOIN customers cu ON cu.id = c.customer_id"""


def _case(row) -> dict[str, Any]:
    return dict(zip(_KEYS, row, strict=True))


def record(conn: Conn, case_id: int, kind: str, now: datetime, agent_id: int | None, actor: str | None,
           data: dict[str, Any] | None = None, interaction_id: int | None = None) -> None:
    """A case event on the case's and the customer's timeline (and live, through cic_events)."""
    conn.execute("SELECT cic_record(%s, %s, customer_id, %s, %s, %s, %s) FROM cases WHERE id = %s",
                 (kind, now, interaction_id, agent_id, actor, Jsonb({**(data or {}), "case_id": case_id}), case_id))


def open_case(conn: Conn, interaction_id: int, category: str, severity: str, description: str, department: str,
              status: str, opened_by: int | None, now: datetime, sla_s: float, warn_at: float) -> int | None:
    """The case, linked to the interaction it came from; None when there is no such interaction."""
    row = conn.execute(
        """INSERT INTO cases (customer_id, category, severity, description, department_id, status, opened_at,
                              opened_by, warn_at, due_at, updated_at)
           SELECT i.customer_id, %s, %s, %s, d.id, %s, %s, %s, %s, %s, %s
           FROM interactions i, departments d WHERE i.id = %s AND d.name = %s RETURNING id""",
        (category, severity, description, status, now, opened_by, now + timedelta(seconds=sla_s * warn_at),
         now + timedelta(seconds=sla_s), now, interaction_id, department)).fetchone()
    if row is None:
        return None
    link(conn, row[0], interaction_id, now)
    return row[0]


def link(conn: Conn, case_id: int, interaction_id: int, now: datetime) -> bool:
    return conn.execute("""INSERT INTO case_interactions (case_id, interaction_id, linked_at) VALUES (%s, %s, %s)
                           ON CONFLICT DO NOTHING""", (case_id, interaction_id, now)).rowcount == 1


def get(conn: Conn, case_id: int, lock: bool = False) -> dict[str, Any] | None:
    row = conn.execute(f"SELECT {_CASE} FROM {_FROM} WHERE c.id = %s" + (" FOR UPDATE OF c" if lock else ""),  # noqa: S608
                       (case_id,)).fetchone()
    return _case(row) if row else None


def listing(conn: Conn, viewer: Viewer, include_closed: bool = False) -> list[dict[str, Any]]:
    """The cases the viewer may see, oldest due first."""
    rows = conn.execute(
        f"""SELECT {_CASE} FROM {_FROM}
            WHERE {visibility.CASE} AND (%(closed)s OR c.closed_at IS NULL)
            ORDER BY c.due_at, c.id LIMIT 500""",  # noqa: S608 - constant column list
        {**visibility.who(viewer), "closed": include_closed}).fetchall()
    return [_case(r) for r in rows]


def open_for_customer(conn: Conn, viewer: Viewer, customer_id: int) -> list[dict[str, Any]]:
    """The customer's open cases that the viewer may see (the screen pop)."""
    rows = conn.execute(f"""SELECT {_CASE} FROM {_FROM} WHERE c.customer_id = %(customer)s AND c.closed_at IS NULL
                            AND {visibility.CASE} ORDER BY c.id""",  # noqa: S608 - constants
                        {**visibility.who(viewer), "customer": customer_id}).fetchall()
    return [_case(r) for r in rows]


def reach(conn: Conn, case_id: int, fallbacks: list[str]) -> tuple[int, list[str]] | None:
    """How to reach the case's customer: the case's latest interaction (what a message is sent on)
    and the channels to try in order: where they asked to hear from us, where they last were,
    then `fallbacks` (what reaches a caller). A chat only while it is open: a closed widget would
    never show it. None for a case with no interaction."""
    row = conn.execute(
        """SELECT ci.interaction_id, i.channel, cu.preferred_channel,
                  EXISTS (SELECT FROM chat_sessions s WHERE s.key = i.conversation_key AND s.ended_at IS NULL)
           FROM case_interactions ci JOIN interactions i ON i.id = ci.interaction_id
           JOIN customers cu ON cu.id = i.customer_id
           WHERE ci.case_id = %s ORDER BY ci.linked_at DESC, ci.interaction_id DESC LIMIT 1""", (case_id,)).fetchone()
    if row is None:
        return None
    interaction_id, channel, preferred, chat_open = row
    channels = [c for c in (preferred, channel, *fallbacks) if c in ("email", "sms") or (c == "chat" and chat_open)]
    return interaction_id, list(dict.fromkeys(channels))


def interactions(conn: Conn, case_id: int) -> list[int]:
    return [r[0] for r in conn.execute("SELECT interaction_id FROM case_interactions WHERE case_id = %s "
                                       "ORDER BY linked_at, interaction_id", (case_id,)).fetchall()]


def events(conn: Conn, case_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        """SELECT t.at, t.kind, t.actor, a.name, t.data, t.interaction_id FROM timeline_events t
           LEFT JOIN agents a ON a.id = t.agent_id
           WHERE t.data ? 'case_id' AND (t.data ->> 'case_id')::bigint = %s ORDER BY t.id""", (case_id,)).fetchall()
    return [{"at": r[0], "kind": r[1], "actor": r[2], "agent_name": r[3], "data": r[4], "interaction_id": r[5]}
            for r in rows]


def set_status(conn: Conn, case_id: int, status: str, now: datetime, pause: bool, resume: bool) -> None:
    """Move the case; pausing stops its SLA clock, resuming moves its warning and due dates later
    by the time it was stopped."""
    conn.execute(
        """UPDATE cases SET status = %(status)s, updated_at = %(now)s,
               warn_at = CASE WHEN %(resume)s AND paused_since IS NOT NULL THEN warn_at + (%(now)s - paused_since)
                              ELSE warn_at END,
               due_at = CASE WHEN %(resume)s AND paused_since IS NOT NULL THEN due_at + (%(now)s - paused_since)
                             ELSE due_at END,
               paused_since = CASE WHEN %(pause)s THEN COALESCE(paused_since, %(now)s)
                                   WHEN %(resume)s THEN NULL ELSE paused_since END,
               resolved_at = CASE WHEN %(status)s = 'resolved' THEN %(now)s
                                  WHEN %(status)s = 'closed' THEN resolved_at ELSE NULL END,
               closed_at = CASE WHEN %(status)s = 'closed' THEN %(now)s ELSE NULL END
           WHERE id = %(id)s""",
        {"status": status, "now": now, "pause": pause, "resume": resume, "id": case_id})


def reopened(conn: Conn, case_id: int) -> None:
    conn.execute("UPDATE cases SET reopened = reopened + 1 WHERE id = %s", (case_id,))


def replied_to(conn: Conn, customer_ids: list[int]) -> list[dict[str, Any]]:
    """The customers' cases a message from them concerns: not closed, newest first per customer."""
    rows = conn.execute(f"SELECT {_CASE} FROM {_FROM} WHERE c.customer_id = ANY(%s) AND c.closed_at IS NULL "  # noqa: S608
                        "ORDER BY c.customer_id, c.id DESC FOR UPDATE OF c", (customer_ids,)).fetchall()
    return [_case(r) for r in rows]


def warn_due(conn: Conn, now: datetime) -> list[dict[str, Any]]:
    """Running clocks past their warning time, marked warned (once; another node skips them)."""
    rows = conn.execute(
        """UPDATE cases c SET warned_at = %s WHERE c.id IN (
                SELECT id FROM cases WHERE paused_since IS NULL AND resolved_at IS NULL AND closed_at IS NULL
                  AND breached_at IS NULL AND warned_at IS NULL AND warn_at <= %s FOR UPDATE SKIP LOCKED)
            RETURNING c.id""", (now, now)).fetchall()
    return [get(conn, r[0]) for r in rows]  # type: ignore[misc]


def breach_due(conn: Conn, now: datetime) -> list[dict[str, Any]]:
    """Running clocks past their due date, marked breached (once)."""
    rows = conn.execute(
        """UPDATE cases c SET breached_at = %s, warned_at = COALESCE(warned_at, %s) WHERE c.id IN (
               SELECT id FROM cases WHERE paused_since IS NULL AND resolved_at IS NULL AND closed_at IS NULL
                 AND breached_at IS NULL AND due_at <= %s FOR UPDATE SKIP LOCKED)
           RETURNING c.id""", (now, now, now)).fetchall()
    return [get(conn, r[0]) for r in rows]  # type: ignore[misc]


def assign(conn: Conn, case_id: int, login: str) -> int | None:
    row = conn.execute("UPDATE cases SET owner_agent_id = a.id FROM agents a WHERE cases.id = %s AND a.login = %s "
                       "RETURNING a.id", (case_id, login)).fetchone()
    return row[0] if row else None


def department_of(conn: Conn, agent_id: int) -> int | None:
    row = conn.execute("SELECT department_id FROM agents WHERE id = %s", (agent_id,)).fetchone()
    return row[0] if row else None
