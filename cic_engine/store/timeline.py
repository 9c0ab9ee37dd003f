"""The append-only timeline: every fact about a customer or an interaction, in order."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from ..models import TimelineEvent
from . import Conn


def append(
    conn: Conn,
    kind: str,
    now: datetime,
    *,
    customer_id: int | None = None,
    interaction_id: int | None = None,
    actor: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    conn.execute(
        """INSERT INTO timeline_events (at, kind, customer_id, interaction_id, actor, data)
           VALUES (%s, %s, %s, %s, %s, %s)""",
        (now, kind, customer_id, interaction_id, actor, Jsonb(data or {})),
    )


_COLUMNS = "id, at, kind, customer_id, interaction_id, agent_id, actor, data"


def _event(row) -> TimelineEvent:
    return TimelineEvent(
        id=row[0], at=row[1], kind=row[2], customer_id=row[3], interaction_id=row[4], agent_id=row[5], actor=row[6],
        data=row[7],
    )


def for_customer(conn: Conn, customer_id: int, limit: int = 500, after: int = 0) -> list[TimelineEvent]:
    """The customer's whole history, including profiles merged into it and their interactions,
    oldest first: `limit` events after the event id `after`."""
    rows = conn.execute(
        f"""WITH ids AS (SELECT id FROM customers WHERE id = %(c)s OR merged_into = %(c)s)
            SELECT {_COLUMNS} FROM timeline_events
            WHERE (customer_id IN (SELECT id FROM ids)
                   OR interaction_id IN (SELECT id FROM interactions WHERE customer_id IN (SELECT id FROM ids)))
              AND id > %(after)s
            ORDER BY id LIMIT %(limit)s""",  # noqa: S608 - fixed column list, values are parameters
        {"c": customer_id, "limit": limit, "after": after},
    ).fetchall()
    return [_event(r) for r in rows]


def for_interaction(conn: Conn, interaction_id: int) -> list[TimelineEvent]:
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM timeline_events WHERE interaction_id = %s ORDER BY id",  # noqa: S608
        (interaction_id,),
    ).fetchall()
    return [_event(r) for r in rows]
