"""Contacts a channel could not parse or store, kept with their bytes, and their re-ingest
requests (from `cic-engine reingest` or the board), which the node running the adapter takes."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from . import Conn

COLUMNS = """id, channel, adapter, reason, source, raw, created_at, seen_again, reingest_requested_at,
             reingested_at, interaction_id, reingest_error"""


@dataclass(frozen=True)
class Rejected:
    id: int
    channel: str
    adapter: str
    reason: str
    source: dict[str, Any]
    raw: bytes | None
    created_at: datetime
    seen_again: int
    reingest_requested_at: datetime | None
    reingested_at: datetime | None
    interaction_id: int | None
    reingest_error: str | None

    def summary(self) -> dict[str, Any]:
        """What the board and the CLI show: everything but the bytes, which may be large."""
        return {"id": self.id, "channel": self.channel, "adapter": self.adapter, "reason": self.reason,
                "source": self.source, "size": len(self.raw) if self.raw is not None else None,
                "created_at": self.created_at.isoformat(), "seen_again": self.seen_again,
                "reingest_requested": self.reingest_requested_at is not None,
                "reingested_at": self.reingested_at.isoformat() if self.reingested_at else None,
                "interaction_id": self.interaction_id, "reingest_error": self.reingest_error}


def _row(row: tuple) -> Rejected:
    return Rejected(row[0], row[1], row[2], row[3], row[4], bytes(row[5]) if row[5] is not None else None,
                    *row[6:])


def record(conn: Conn, channel: str, adapter: str, reason: str, source: dict[str, str], raw: bytes | None,
           now: datetime) -> int:
    """The id of the record; the same bytes from the same place again (a re-read after a
    crash) count on the first record instead of making a second."""
    digest = hashlib.sha256(json.dumps(source, sort_keys=True).encode() + b"\0" + (raw or b"")).hexdigest()
    return conn.execute(
        """INSERT INTO rejected_contacts (channel, adapter, reason, source, raw, digest, created_at)
           VALUES (%s, %s, %s, %s, %s, %s, %s)
           ON CONFLICT (adapter, digest) DO UPDATE
             SET seen_again = rejected_contacts.seen_again + 1, reason = EXCLUDED.reason
           RETURNING id""", (channel, adapter, reason, Jsonb(source), raw, digest, now)).fetchone()[0]


def get(conn: Conn, rejected_id: int) -> Rejected | None:
    row = conn.execute(f"SELECT {COLUMNS} FROM rejected_contacts WHERE id = %s", (rejected_id,)).fetchone()  # noqa: S608 - constant
    return _row(row) if row else None


def waiting(conn: Conn, limit: int = 100) -> list[Rejected]:
    """Neither re-ingested nor dismissed yet, newest first."""
    rows = conn.execute(f"""SELECT {COLUMNS} FROM rejected_contacts WHERE reingested_at IS NULL AND dismissed_at IS NULL
                            ORDER BY id DESC LIMIT %s""", (limit,)).fetchall()  # noqa: S608 - constant
    return [_row(r) for r in rows]


def counts(conn: Conn) -> dict[tuple[str, str], int]:
    """Per (channel, adapter), how many wait for a person."""
    rows = conn.execute("""SELECT channel, adapter, count(*) FROM rejected_contacts
                           WHERE reingested_at IS NULL AND dismissed_at IS NULL GROUP BY channel, adapter""").fetchall()
    return {(r[0], r[1]): r[2] for r in rows}


def request_reingest(conn: Conn, rejected_id: int, who: str, now: datetime) -> Rejected | None:
    row = conn.execute(
        f"""UPDATE rejected_contacts SET reingest_requested_at = %s, reingest_requested_by = %s, reingest_error = NULL
            WHERE id = %s AND reingested_at IS NULL AND dismissed_at IS NULL RETURNING {COLUMNS}""",  # noqa: S608 - constant
        (now, who, rejected_id)).fetchone()
    return _row(row) if row else None


def dismiss(conn: Conn, rejected_id: int, who: str, now: datetime) -> bool:
    """Off the list for good (the bytes stay on record): nothing in it can be taken in."""
    return conn.execute("""UPDATE rejected_contacts SET dismissed_at = %s, dismissed_by = %s, reingest_requested_at = NULL
                           WHERE id = %s AND reingested_at IS NULL AND dismissed_at IS NULL""",
                        (now, who, rejected_id)).rowcount == 1


def take_requested(conn: Conn, adapters: list[str]) -> Rejected | None:
    """One requested re-ingest for an adapter of this node, locked for the caller's transaction
    (another node skips it)."""
    row = conn.execute(
        f"""SELECT {COLUMNS} FROM rejected_contacts WHERE reingest_requested_at IS NOT NULL AND adapter = ANY(%s)
            ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED""",  # noqa: S608 - constant
        (adapters,)).fetchone()
    return _row(row) if row else None


def reingested(conn: Conn, rejected_id: int, interaction_id: int | None, now: datetime) -> None:
    conn.execute("""UPDATE rejected_contacts SET reingested_at = %s, interaction_id = %s, reingest_requested_at = NULL,
                    reingest_error = NULL WHERE id = %s""", (now, interaction_id, rejected_id))


def reingest_failed(conn: Conn, rejected_id: int, error: str) -> None:
    conn.execute("UPDATE rejected_contacts SET reingest_requested_at = NULL, reingest_error = %s WHERE id = %s",
                 (error, rejected_id))
