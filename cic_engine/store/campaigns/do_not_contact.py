"""The do-not-contact list: identities no campaign may reach, whatever its own list says."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .. import Conn


def dnc_add(conn: Conn, kind: str, value: str, reason: str | None, actor: str, now: datetime) -> bool:
    row = conn.execute("""INSERT INTO do_not_contact (kind, value, reason, added_by, added_at)
                          VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING value""",
                       (kind, value, reason, actor, now)).fetchone()
    if row is not None:
        conn.execute("""SELECT cic_record('do_not_contact', %s, customer_id, NULL, NULL, %s,
                                          jsonb_build_object('identity', %s || ':' || %s, 'reason', %s::text))
                        FROM customer_identities WHERE kind = %s AND value = %s""",
                     (now, actor, kind, value, reason, kind, value))
    return row is not None


def dnc_remove(conn: Conn, kind: str, value: str) -> bool:
    return conn.execute("DELETE FROM do_not_contact WHERE kind = %s AND value = %s RETURNING value",
                        (kind, value)).fetchone() is not None


def dnc_list(conn: Conn, limit: int = 1000) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT kind, value, reason, added_by, added_at FROM do_not_contact ORDER BY added_at DESC "
                        "LIMIT %s", (limit,)).fetchall()
    return [{"kind": r[0], "value": r[1], "reason": r[2], "added_by": r[3], "added_at": r[4]} for r in rows]
