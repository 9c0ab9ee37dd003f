"""Queues and agents: the config seeds them; the database is what routers and the inbox read."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg.types.json import Jsonb

from ..config import CicConfig
from . import Conn


@dataclass(frozen=True)
class QueueRow:
    id: int
    name: str
    priority: int
    channels: tuple[str, ...]


def sync_from_config(conn: Conn, cic: CicConfig) -> None:
    """Upsert the configured queues and seed agents. Queues and agents missing from the config
    are left in place: interactions and the timeline still refer to them."""
    for q in cic.queues:
        conn.execute(
            """INSERT INTO queues (name, channels, priority, settings) VALUES (%s, %s, %s, %s)
               ON CONFLICT (name) DO UPDATE SET channels = EXCLUDED.channels, priority = EXCLUDED.priority,
                                                settings = EXCLUDED.settings, updated_at = now()""",
            (q.name, [c.value for c in q.channels], q.priority, Jsonb(q.model_dump(mode="json"))),
        )
    for d in cic.cases.departments:
        conn.execute("""INSERT INTO departments (name, title) VALUES (%s, %s)
                        ON CONFLICT (name) DO UPDATE SET title = EXCLUDED.title""", (d.name, d.title))
    for a in cic.agents:
        exclusive = cic.routing.voice_exclusive if a.voice_exclusive is None else a.voice_exclusive
        row = conn.execute(
            """INSERT INTO agents (login, name, roles, skills, languages, caps, voice_exclusive, password_hash)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
               ON CONFLICT (login) DO UPDATE SET name = EXCLUDED.name, roles = EXCLUDED.roles,
                   skills = EXCLUDED.skills, languages = EXCLUDED.languages, caps = EXCLUDED.caps,
                   voice_exclusive = EXCLUDED.voice_exclusive,
                   password_hash = COALESCE(EXCLUDED.password_hash, agents.password_hash)
               RETURNING id""",
            (a.login, a.name, a.roles, Jsonb(a.skills), a.languages, cic.routing.caps_for(a), exclusive,
             a.password_hash),
        ).fetchone()
        assert row is not None
        conn.execute("UPDATE agents SET department_id = (SELECT id FROM departments WHERE name = %s) WHERE id = %s",
                     (a.department, row[0]))
        # Kept rows keep their round-robin position across restarts.
        conn.execute(
            """DELETE FROM agent_queues WHERE agent_id = %s
               AND queue_id NOT IN (SELECT id FROM queues WHERE name = ANY(%s))""",
            (row[0], a.queues),
        )
        conn.execute(
            """INSERT INTO agent_queues (agent_id, queue_id)
               SELECT %s, id FROM queues WHERE name = ANY(%s) ON CONFLICT DO NOTHING""",
            (row[0], a.queues),
        )


def queues_by_name(conn: Conn) -> dict[str, QueueRow]:
    rows = conn.execute("SELECT id, name, priority, channels FROM queues").fetchall()
    return {r[1]: QueueRow(id=r[0], name=r[1], priority=r[2], channels=tuple(r[3])) for r in rows}
