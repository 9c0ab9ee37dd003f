"""The live queue board: what waits, who is free, and how the queue did since a moment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from . import Conn


@dataclass(frozen=True)
class QueueFigures:
    queue_id: int
    channel: str
    waiting: int
    offered: int
    longest_wait_s: float
    answered: int
    answered_in_target: int
    abandoned: int
    abandoned_in_target: int  # gave up before the target: left out of the service level
    avg_answer_s: float | None  # ASA


def queue_figures(conn: Conn, targets: dict[tuple[int, str], float], since: datetime, now: datetime) -> list[QueueFigures]:
    """Per queue and channel, for interactions queued since `since`. `targets` maps (queue id,
    channel) to the service-level time in seconds."""
    keys = list(targets)
    rows = conn.execute(
        """WITH t AS (SELECT * FROM unnest(%(q)s::bigint[], %(ch)s::text[], %(s)s::float8[]) AS t(queue_id, channel, within_s))
           SELECT t.queue_id, t.channel,
                  count(*) FILTER (WHERE i.state = 'queued'),
                  count(*) FILTER (WHERE i.state = 'offered'),
                  coalesce(extract(epoch FROM %(now)s - min(i.queued_at) FILTER (WHERE i.state IN ('queued', 'offered'))), 0),
                  count(i.answered_at),
                  count(*) FILTER (WHERE i.answered_at - i.queued_at <= make_interval(secs => t.within_s)),
                  count(*) FILTER (WHERE i.outcome = 'abandoned'),
                  count(*) FILTER (WHERE i.outcome = 'abandoned'
                                     AND i.closed_at - i.queued_at <= make_interval(secs => t.within_s)),
                  avg(extract(epoch FROM i.answered_at - i.queued_at))
           FROM t LEFT JOIN interactions i
             ON i.queue_id = t.queue_id AND i.channel = t.channel AND i.queued_at >= %(since)s
           GROUP BY t.queue_id, t.channel ORDER BY t.queue_id, t.channel""",
        {"q": [k[0] for k in keys], "ch": [k[1] for k in keys], "s": [float(targets[k]) for k in keys],  # one type: psycopg refuses a list of ints and floats
         "since": since, "now": now},
    ).fetchall()
    return [QueueFigures(r[0], r[1], r[2], r[3], float(r[4]), r[5], r[6], r[7], r[8],
                         float(r[9]) if r[9] is not None else None) for r in rows]


def agents_by_state(conn: Conn) -> dict[int, dict[str, int]]:
    """Per queue, how many of its agents are in each state."""
    rows = conn.execute(
        """SELECT q.queue_id, a.state, count(*) FROM agent_queues q JOIN agents a ON a.id = q.agent_id
           GROUP BY q.queue_id, a.state"""
    ).fetchall()
    out: dict[int, dict[str, int]] = {}
    for queue_id, state, n in rows:
        out.setdefault(queue_id, {})[state] = n
    return out


def agents(conn: Conn) -> list[dict]:
    """Every agent with their state, since when, what they hold per channel, and the call they
    are on (for listening in)."""
    rows = conn.execute(
        """SELECT a.id, a.login, a.name, a.state, a.away_reason, a.state_since, a.loads, a.caps,
                  ARRAY(SELECT q.name FROM agent_queues aq JOIN queues q ON q.id = aq.queue_id
                        WHERE aq.agent_id = a.id ORDER BY q.name),
                  (SELECT i.id FROM interactions i WHERE i.assigned_agent_id = a.id AND i.channel = 'voice'
                   AND i.state = 'active' ORDER BY i.id DESC LIMIT 1), a.roles
           FROM agents a ORDER BY a.name""").fetchall()
    slots = ("voice", "email", "sms", "chat", "fax")
    return [{"id": r[0], "login": r[1], "name": r[2], "state": r[3], "away_reason": r[4], "state_since": r[5],
             "holding": {s: n for s, n in zip(slots, r[6], strict=True) if n},
             "capacity": dict(zip(slots, r[7], strict=True)), "queues": list(r[8]), "on_call": r[9],
             "roles": list(r[10])} for r in rows]


def waiting(conn: Conn, limit: int = 200) -> list[dict]:
    """Interactions waiting or offered, oldest in line first, for the supervisor to move or assign."""
    rows = conn.execute(
        """SELECT i.id, i.channel, q.name, i.state, i.queued_at, c.display_name, c.tier, i.priority
           FROM interactions i JOIN queues q ON q.id = i.queue_id JOIN customers c ON c.id = i.customer_id
           WHERE i.state IN ('queued', 'offered') ORDER BY i.rank_at NULLS LAST, i.id LIMIT %s""", (limit,)).fetchall()
    return [{"id": r[0], "channel": r[1], "queue": r[2], "state": r[3], "queued_at": r[4], "customer_name": r[5],
             "tier": r[6], "priority": r[7]} for r in rows]
