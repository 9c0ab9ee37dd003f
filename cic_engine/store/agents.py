"""Agents: presence, the free-agent snapshot a routing pass matches against, and status reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from . import Conn
from .interactions import wake_routers


@dataclass
class FreeAgent:
    """An available agent with at least one free slot, as a routing pass sees it."""

    id: int
    skills: dict[str, int]
    languages: frozenset[str]
    loads: list[int]
    caps: list[int]
    voice_exclusive: bool
    idle_since: datetime | None
    last_offered: dict[int, datetime | None]  # per queue id, for round-robin

    @property
    def queue_ids(self):
        return self.last_offered.keys()


@dataclass(frozen=True)
class AgentStatus:
    id: int
    login: str
    name: str
    roles: list[str]
    presence: str
    state: str
    away_reason: str | None
    state_since: datetime
    loads: list[int]
    caps: list[int]
    missed_offers: int
    voice_exclusive: bool
    queue_ids: list[int]


# An agent no call could ring: some switch tells the engine its phones (phone_switches), and
# none of them has a phone or browser of this agent's registered (0016_agent_phones.sql).
NO_PHONE = """(EXISTS (SELECT 1 FROM phone_switches)
               AND NOT EXISTS (SELECT 1 FROM phone_registrations r WHERE r.login = a.login))"""


def free_agents(conn: Conn) -> list[FreeAgent]:
    """Available agents with a free slot; an agent without a phone has no room for a call."""
    rows = conn.execute(
        f"""SELECT a.id, a.skills, a.languages, a.loads,
                  CASE WHEN {NO_PHONE} THEN 0 || a.caps[2:] ELSE a.caps END, a.voice_exclusive, a.idle_since,
                  array_agg(q.queue_id), array_agg(q.last_offered_at)
           FROM agents a JOIN agent_queues q ON q.agent_id = a.id
           WHERE a.presence = 'available'
             AND (a.loads[1] < a.caps[1] OR a.loads[2] < a.caps[2] OR a.loads[3] < a.caps[3]
                  OR a.loads[4] < a.caps[4] OR a.loads[5] < a.caps[5])
           GROUP BY a.id"""  # noqa: S608 - constant
    ).fetchall()
    return [
        FreeAgent(
            id=r[0], skills=r[1], languages=frozenset(r[2]), loads=list(r[3]), caps=list(r[4]),
            voice_exclusive=r[5], idle_since=r[6], last_offered=dict(zip(r[7], r[8], strict=True)),
        )
        for r in rows
    ]


def id_by_login(conn: Conn, login: str) -> int | None:
    row = conn.execute("SELECT id FROM agents WHERE login = %s", (login,)).fetchone()
    return row[0] if row else None


_STATUS = """SELECT a.id, a.login, a.name, a.roles, a.presence, a.state, a.away_reason, a.state_since, a.loads,
                     a.caps, a.missed_offers, a.voice_exclusive,
                     ARRAY(SELECT queue_id FROM agent_queues WHERE agent_id = a.id ORDER BY queue_id)
              FROM agents a WHERE a.id = %s"""


def status(conn: Conn, agent_id: int, lock: bool = False) -> AgentStatus | None:
    row = conn.execute(_STATUS + " FOR UPDATE OF a" if lock else _STATUS, (agent_id,)).fetchone()
    return AgentStatus(*row) if row else None


def set_presence(conn: Conn, agent_id: int, presence: str, reason: str | None, now: datetime) -> None:
    """Set what the agent chose; the trigger derives and records the state. Becoming available
    clears the missed-offer count and wakes the routers."""
    conn.execute(
        """UPDATE agents SET presence = %(p)s, away_reason = %(r)s, updated_at = %(now)s,
                             missed_offers = CASE WHEN %(p)s = 'available' THEN 0 ELSE missed_offers END,
                             -- an inbox gone long ago does not make a newly available agent "disconnected"
                             live_until = CASE WHEN %(p)s = 'available' AND live_until < %(now)s THEN NULL
                                               ELSE live_until END
           WHERE id = %(id)s""",
        {"p": presence, "r": reason, "now": now, "id": agent_id},
    )
    if presence == "available":
        wake_routers(conn, f"agent:{agent_id}")


def alive(conn: Conn, agent_id: int, until: datetime) -> None:
    """The agent's inbox is connected: not to be taken for gone before `until`."""
    conn.execute("UPDATE agents SET live_until = %s WHERE id = %s AND live_until IS DISTINCT FROM %s",
                 (until, agent_id, until))


def gone(conn: Conn, now: datetime, agent_id: int | None = None) -> list[int]:
    """Available agents (or this one) whose inbox has been disconnected past their grace."""
    rows = conn.execute(
        """SELECT id FROM agents WHERE presence = 'available' AND live_until < %s
             AND (%s::bigint IS NULL OR id = %s) ORDER BY id""", (now, agent_id, agent_id)).fetchall()
    return [r[0] for r in rows]


def offers_held(conn: Conn, agent_id: int) -> list[int]:
    rows = conn.execute(
        "SELECT id FROM interactions WHERE state = 'offered' AND %s = ANY(offered_to) ORDER BY id", (agent_id,)
    ).fetchall()
    return [r[0] for r in rows]
