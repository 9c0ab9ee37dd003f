"""Campaigns in SQL. This module: the campaigns themselves; `lists` their contacts and what
the contact rules read of each; `attempts` each try and its outcome; `do_not_contact` the list
every campaign keeps; `reports` the figures of one campaign."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from ...settings.outbound import CampaignSettings
from .. import Conn


@dataclass(frozen=True)
class Campaign:
    id: int
    name: str
    channel: str
    state: str
    queue_id: int | None
    settings: CampaignSettings


_CAMPAIGN = "id, name, channel, state, queue_id, settings"


def _campaign(row) -> Campaign:
    return Campaign(row[0], row[1], row[2], row[3], row[4], CampaignSettings.model_validate(row[5]))


def save(conn: Conn, settings: CampaignSettings, queue_id: int | None, actor: str, now: datetime) -> int:
    """Create the campaign (running at once if it says autostart), or update its settings (its
    state and contacts stay)."""
    return conn.execute(
        """INSERT INTO campaigns (name, channel, queue_id, settings, created_by, created_at, updated_at, state)
           VALUES (%(name)s, %(channel)s, %(q)s, %(s)s, %(actor)s, %(now)s, %(now)s,
                   CASE WHEN %(auto)s THEN 'running' ELSE 'paused' END)
           ON CONFLICT (name) DO UPDATE SET channel = EXCLUDED.channel, queue_id = EXCLUDED.queue_id,
                                            settings = EXCLUDED.settings, updated_at = EXCLUDED.updated_at
           RETURNING id""",
        {"name": settings.name, "channel": settings.channel, "q": queue_id, "s": Jsonb(settings.model_dump(mode="json")),
         "actor": actor, "now": now, "auto": settings.autostart}).fetchone()[0]


def get(conn: Conn, campaign_id: int) -> Campaign | None:
    row = conn.execute(f"SELECT {_CAMPAIGN} FROM campaigns WHERE id = %s", (campaign_id,)).fetchone()  # noqa: S608
    return _campaign(row) if row else None


def all_campaigns(conn: Conn, state: str | None = None) -> list[Campaign]:
    rows = conn.execute(f"SELECT {_CAMPAIGN} FROM campaigns WHERE %(s)s::text IS NULL OR state = %(s)s "  # noqa: S608
                        "ORDER BY id", {"s": state}).fetchall()
    return [_campaign(r) for r in rows]


def set_state(conn: Conn, campaign_id: int, state: str, now: datetime) -> bool:
    return conn.execute("UPDATE campaigns SET state = %s, updated_at = %s WHERE id = %s RETURNING id",
                        (state, now, campaign_id)).fetchone() is not None


def finished(conn: Conn, campaign_id: int) -> bool:
    """Every contact of it is done with: none waits for an attempt or an outcome."""
    return conn.execute(
        """SELECT count(*) > 0 AND count(*) FILTER (WHERE state IN ('pending', 'dialing')) = 0
           FROM campaign_contacts WHERE campaign_id = %s""", (campaign_id,)).fetchone()[0]


def has_message_campaigns(conn: Conn) -> bool:
    return conn.execute("SELECT EXISTS (SELECT FROM campaigns WHERE channel <> 'voice')").fetchone()[0]


def record(conn: Conn, kind: str, now: datetime, customer_id: int, interaction_id: int | None,
            data: dict[str, Any], agent_id: int | None = None) -> None:
    conn.execute("SELECT cic_record(%s, %s, %s, %s, %s, 'dialer', %s)",
                 (kind, now, customer_id, interaction_id, agent_id, Jsonb(data)))
