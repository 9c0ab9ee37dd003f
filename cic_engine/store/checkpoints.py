"""Adapter checkpoints (IMAP UIDVALIDITY + last UID, SMPP sequence...): where to resume."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from . import Conn


def get(conn: Conn, adapter: str, key: str) -> Any | None:
    row = conn.execute("SELECT value FROM adapter_checkpoints WHERE adapter = %s AND key = %s", (adapter, key)).fetchone()
    return row[0] if row else None


def put(conn: Conn, adapter: str, key: str, value: Any) -> None:
    """Written in the caller's transaction, so a checkpoint moves only together with what it covers."""
    conn.execute(
        """INSERT INTO adapter_checkpoints (adapter, key, value) VALUES (%s, %s, %s)
           ON CONFLICT (adapter, key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()""",
        (adapter, key, Jsonb(value)),
    )
