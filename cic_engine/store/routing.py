"""What a routing pass reads and writes besides offers: new arrivals to prepare, due timers,
the agents with a free slot, the waiting interactions in order, queue moves and priority."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from . import Conn, advisory_key

ROUTER_LOCK = "cic-router-pass"


@contextmanager
def pass_lock(conn: Conn) -> Iterator[None]:
    """Routing passes of all nodes take turns: a session lock, released however the pass ends
    (or with the session, when the node dies)."""
    key = advisory_key(ROUTER_LOCK)
    conn.execute("SELECT pg_advisory_lock(%s)", (key,))
    try:
        yield
    finally:
        if not conn.closed and not conn.broken:
            conn.execute("SELECT pg_advisory_unlock(%s)", (key,))


@dataclass(frozen=True)
class Arrival:
    id: int
    channel: str
    queue_id: int
    queued_at: datetime
    priority: int
    tier: str
    customer_id: int


@dataclass(frozen=True)
class Preparation:
    id: int
    rank_at: datetime | None  # None: the interaction leaves the queue (after-hours voicemail)
    queue_id: int
    priority: int
    queue_entered_at: datetime
    next_overflow_at: datetime | None
    sticky_agent_id: int | None
    sticky_until: datetime | None
    callback: bool
    event: tuple[str, dict[str, Any]] | None  # a timeline row to add (kind, data)


def arrivals(conn: Conn, limit: int) -> list[Arrival]:
    """Queued interactions no router has looked at yet, locked for this transaction."""
    rows = conn.execute(
        """SELECT i.id, i.channel, i.queue_id, i.queued_at, i.priority, c.tier, i.customer_id
           FROM interactions i JOIN customers c ON c.id = i.customer_id
           WHERE i.state = 'queued' AND i.rank_at IS NULL
           ORDER BY i.id LIMIT %s
           FOR UPDATE OF i SKIP LOCKED""",
        (limit,),
    ).fetchall()
    return [Arrival(*r) for r in rows]


@dataclass(frozen=True)
class LastAgent:
    agent_id: int
    presence: str  # now
    answered_at: datetime
    queue_ids: frozenset[int]  # the agent's queues now


def last_agents(conn: Conn, customer_ids: list[int], since: datetime) -> dict[int, LastAgent]:
    """Per customer, the agent who last answered one of their interactions since `since`
    (any channel)."""
    rows = conn.execute(
        """SELECT DISTINCT ON (i.customer_id) i.customer_id, i.assigned_agent_id, a.presence, i.answered_at,
                  ARRAY(SELECT queue_id FROM agent_queues WHERE agent_id = a.id)
           FROM interactions i JOIN agents a ON a.id = i.assigned_agent_id
           WHERE i.customer_id = ANY(%s) AND i.assigned_agent_id IS NOT NULL AND i.answered_at >= %s
           ORDER BY i.customer_id, i.answered_at DESC""",
        (customer_ids, since),
    ).fetchall()
    return {r[0]: LastAgent(r[1], r[2], r[3], frozenset(r[4])) for r in rows}


def write_preparations(conn: Conn, preps: list[Preparation], now: datetime) -> None:
    if not preps:
        return
    conn.execute(
        """WITH p AS (
                SELECT * FROM unnest(%(id)s::bigint[], %(rank)s::timestamptz[], %(q)s::bigint[], %(prio)s::int[],
                                     %(entered)s::timestamptz[], %(overflow)s::timestamptz[], %(sticky)s::bigint[],
                                     %(until)s::timestamptz[], %(callback)s::bool[])
                    AS p(id, rank_at, queue_id, priority, entered, next_overflow_at, sticky, sticky_until, callback))
            UPDATE interactions i SET
                rank_at = coalesce(p.rank_at, i.queued_at),
                state = CASE WHEN p.rank_at IS NULL THEN 'closed' ELSE i.state END,
                closed_at = CASE WHEN p.rank_at IS NULL THEN %(now)s END,
                outcome = CASE WHEN p.rank_at IS NULL THEN 'voicemail' END,
                queue_id = p.queue_id, priority = p.priority, queue_entered_at = p.entered,
                next_overflow_at = p.next_overflow_at, sticky_agent_id = p.sticky, sticky_until = p.sticky_until,
                callback = p.callback
            FROM p WHERE i.id = p.id""",  # noqa: S608 - no values in the text
        {
            "id": [p.id for p in preps], "rank": [p.rank_at for p in preps], "q": [p.queue_id for p in preps],
            "prio": [p.priority for p in preps], "entered": [p.queue_entered_at for p in preps],
            "overflow": [p.next_overflow_at for p in preps], "sticky": [p.sticky_agent_id for p in preps],
            "until": [p.sticky_until for p in preps], "callback": [p.callback for p in preps], "now": now,
        },
    )
    for p in preps:
        if p.event is not None:
            record(conn, p.event[0], now, p.id, data=p.event[1])
    # The live "queued" event: ingest wrote the timeline row; listeners hear of it once it can be routed.
    conn.execute(
        """SELECT pg_notify('cic_events', jsonb_build_object(
                'event', 'interaction.queued', 'at', %s::timestamptz, 'interaction_id', i.id,
                'customer_id', i.customer_id, 'data', jsonb_build_object('queue_id', i.queue_id, 'channel', i.channel,
                'rank_at', i.rank_at))::text)
           FROM interactions i WHERE i.id = ANY(%s) AND i.state = 'queued'""",
        (now, [p.id for p in preps]),
    )


def record(
    conn: Conn, kind: str, now: datetime, interaction_id: int, *, agent_id: int | None = None,
    actor: str | None = None, data: dict[str, Any] | None = None,
) -> None:
    """A timeline row about an interaction, with its live event (cic_record)."""
    conn.execute(
        """SELECT cic_record(%s, %s, customer_id, id, %s, %s, %s) FROM interactions WHERE id = %s""",
        (kind, now, agent_id, actor, Jsonb(data or {}), interaction_id),
    )


def expired_offers(conn: Conn, now: datetime, limit: int = 500) -> list[tuple[int, list[int]]]:
    rows = conn.execute(
        """SELECT id, offered_to FROM interactions WHERE state = 'offered' AND offer_expires_at <= %s
           ORDER BY offer_expires_at LIMIT %s""",
        (now, limit),
    ).fetchall()
    return [(r[0], list(r[1])) for r in rows]


def end_exclusions(conn: Conn, now: datetime) -> int:
    """Agents who rejected or missed an offer may have the interaction again (a missed offer is
    not a refusal for good: with everyone passed over, nobody would ever get it)."""
    return conn.execute(
        """UPDATE interactions SET excluded_agents = '{}', excluded_until = NULL
           WHERE excluded_until IS NOT NULL AND excluded_until <= %s""",
        (now,),
    ).rowcount


def expired_wrap_ups(conn: Conn, now: datetime, limit: int = 500) -> list[int]:
    rows = conn.execute(
        """SELECT id FROM interactions WHERE state = 'wrap_up' AND wrap_up_until <= %s
           ORDER BY wrap_up_until LIMIT %s""",
        (now, limit),
    ).fetchall()
    return [r[0] for r in rows]


@dataclass(frozen=True)
class Waiting:
    id: int
    channel: str
    queue_id: int
    extra_queue_ids: tuple[int, ...]
    skills: dict[str, int]
    language: str | None
    skill_relax: int
    excluded: frozenset[int]
    sticky_agent_id: int | None
    sticky_until: datetime | None
    rank_at: datetime
    priority: int
    queued_at: datetime
    queue_entered_at: datetime
    overflow_step: int
    customer_id: int
    callback: bool


_WAITING_COLUMNS = """i.id, i.channel, i.queue_id, i.extra_queue_ids, i.skills, i.language, i.skill_relax,
    i.excluded_agents, i.sticky_agent_id, i.sticky_until, i.rank_at, i.priority, i.queued_at, i.queue_entered_at,
    i.overflow_step, i.customer_id, i.callback"""


def _waiting(r) -> Waiting:
    return Waiting(
        id=r[0], channel=r[1], queue_id=r[2], extra_queue_ids=tuple(r[3]), skills=r[4], language=r[5],
        skill_relax=r[6], excluded=frozenset(r[7]), sticky_agent_id=r[8], sticky_until=r[9], rank_at=r[10],
        priority=r[11], queued_at=r[12], queue_entered_at=r[13], overflow_step=r[14], customer_id=r[15],
        callback=r[16],
    )


Key = tuple[datetime, int]  # (rank_at, id): the routing order


def waiting_heads(
    conn: Conn, streams: list[tuple[int, str, Key | None]], limit: int,
) -> list[tuple[int, Waiting]]:
    """For each (queue, channel, after) stream, its next `limit` waiting interactions in routing
    order: (stream index, interaction). One round trip for all streams."""
    rows = conn.execute(
        f"""SELECT p.n - 1, {_WAITING_COLUMNS}
            FROM unnest(%(q)s::bigint[], %(ch)s::text[], %(ar)s::timestamptz[], %(ai)s::bigint[])
                 WITH ORDINALITY AS p(queue_id, channel, after_rank, after_id, n)
            CROSS JOIN LATERAL (
                SELECT * FROM interactions w
                WHERE w.state = 'queued' AND w.queue_id = p.queue_id AND w.channel = p.channel
                  AND w.rank_at IS NOT NULL
                  AND (p.after_rank IS NULL OR (w.rank_at, w.id) > (p.after_rank, p.after_id))
                ORDER BY w.rank_at, w.id LIMIT %(limit)s) i""",  # noqa: S608 - fixed column list
        {"q": [s[0] for s in streams], "ch": [s[1] for s in streams],
         "ar": [s[2][0] if s[2] else None for s in streams], "ai": [s[2][1] if s[2] else None for s in streams],
         "limit": limit},
    ).fetchall()
    return [(r[0], _waiting(r[1:])) for r in rows]


def waiting_for_extra_queues(conn: Conn, queue_ids: list[int], after: Key | None, limit: int) -> list[Waiting]:
    """Waiting interactions that an overflow step opened to the agents of these queues."""
    rows = conn.execute(
        f"""SELECT {_WAITING_COLUMNS} FROM interactions i
            WHERE i.state = 'queued' AND i.extra_queue_ids <> '{{}}' AND i.extra_queue_ids && %(q)s::bigint[]
              AND (%(ar)s::timestamptz IS NULL OR (i.rank_at, i.id) > (%(ar)s, %(ai)s))
            ORDER BY i.rank_at, i.id LIMIT %(limit)s""",  # noqa: S608 - fixed column list
        {"q": queue_ids, "ar": after[0] if after else None, "ai": after[1] if after else None, "limit": limit},
    ).fetchall()
    return [_waiting(r) for r in rows]


@dataclass(frozen=True)
class Locked:
    state: str
    offered_to: list[int]
    item: Waiting


def lock_interaction(conn: Conn, interaction_id: int) -> Locked | None:
    """Lock one interaction for a change by an agent, a supervisor or an overflow step."""
    row = conn.execute(
        f"""SELECT i.state, i.offered_to, {_WAITING_COLUMNS} FROM interactions i WHERE i.id = %s FOR UPDATE""",  # noqa: S608
        (interaction_id,),
    ).fetchone()
    return Locked(row[0], list(row[1]), _waiting(row[2:])) if row else None


def overflow_due(conn: Conn, now: datetime, limit: int = 500) -> list[Waiting]:
    rows = conn.execute(
        f"""SELECT {_WAITING_COLUMNS} FROM interactions i
            WHERE i.state = 'queued' AND i.next_overflow_at <= %s
            ORDER BY i.next_overflow_at LIMIT %s FOR UPDATE SKIP LOCKED""",  # noqa: S608
        (now, limit),
    ).fetchall()
    return [_waiting(r) for r in rows]


def update_waiting(conn: Conn, interaction_id: int, **columns: Any) -> None:
    """Set routing columns of a locked, queued interaction (names are ours, values parameters)."""
    allowed = {"queue_id", "priority", "rank_at", "queue_entered_at", "overflow_step", "next_overflow_at",
               "skill_relax", "extra_queue_ids", "sticky_agent_id", "sticky_until", "callback", "state",
               "closed_at", "outcome", "excluded_agents"}
    unknown = set(columns) - allowed
    if unknown:
        raise ValueError(f"not a routing column: {sorted(unknown)}")
    assignments = ", ".join(f"{name} = %({name})s" for name in columns)
    conn.execute(f"UPDATE interactions SET {assignments} WHERE id = %(id)s", {**columns, "id": interaction_id})  # noqa: S608


def customer_tier(conn: Conn, customer_id: int) -> str:
    row = conn.execute("SELECT tier FROM customers WHERE id = %s", (customer_id,)).fetchone()
    return row[0] if row else "standard"


def next_deadline(conn: Conn, now: datetime) -> datetime | None:
    """The soonest moment a timer fires: an offer or wrap-up expiring, an overflow step, a
    sticky wait ending, the agents passed over for an interaction having it again."""
    row = conn.execute(
        """SELECT least(
               (SELECT min(offer_expires_at) FROM interactions WHERE state = 'offered'),
               (SELECT min(wrap_up_until) FROM interactions WHERE state = 'wrap_up'),
               (SELECT min(next_overflow_at) FROM interactions WHERE state = 'queued'),
               (SELECT min(excluded_until) FROM interactions WHERE excluded_until IS NOT NULL),
               (SELECT min(live_until) FROM agents WHERE presence = 'available' AND live_until IS NOT NULL),
               (SELECT min(sticky_until) FROM interactions
                WHERE state = 'queued' AND sticky_until IS NOT NULL AND sticky_until > %s))""",
        (now,),
    ).fetchone()
    return row[0] if row else None


def waiting_of_customer(conn: Conn, customer_id: int) -> list[tuple[int, datetime, int]]:
    """(id, queued_at, priority) of the customer's interactions waiting in line, locked."""
    rows = conn.execute(
        """SELECT id, queued_at, priority FROM interactions
           WHERE customer_id = %s AND state IN ('queued', 'offered') AND rank_at IS NOT NULL
           ORDER BY id FOR UPDATE""",
        (customer_id,),
    ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


def offered_to(conn: Conn, interaction_id: int) -> list[int]:
    row = conn.execute("SELECT offered_to FROM interactions WHERE id = %s AND state = 'offered'",
                       (interaction_id,)).fetchone()
    return list(row[0]) if row else []


def position(conn: Conn, interaction_id: int) -> int | None:
    """1 for the next in line of its queue and channel; None when it is not waiting."""
    row = conn.execute(
        """SELECT 1 + (SELECT count(*) FROM interactions o
                       WHERE o.state = 'queued' AND o.queue_id = i.queue_id AND o.channel = i.channel
                         AND (o.rank_at, o.id) < (i.rank_at, i.id))
           FROM interactions i WHERE i.id = %s AND i.state IN ('queued', 'offered') AND i.rank_at IS NOT NULL""",
        (interaction_id,),
    ).fetchone()
    return row[0] if row else None


def answer_interval_s(conn: Conn, interaction_id: int, since: datetime) -> float | None:
    """How often, on average, an interaction of this one's queue and channel was answered since
    `since`: the span of those answers over their number (None with fewer than two)."""
    row = conn.execute(
        """SELECT extract(epoch FROM max(o.answered_at) - min(o.answered_at)) / nullif(count(*) - 1, 0)
           FROM interactions i JOIN interactions o ON o.queue_id = i.queue_id AND o.channel = i.channel
           WHERE i.id = %s AND o.answered_at >= %s""",
        (interaction_id, since),
    ).fetchone()
    return float(row[0]) if row and row[0] is not None else None


def waiting_state(conn: Conn, interaction_id: int) -> tuple[list[int], str | None]:
    row = conn.execute("SELECT offered_to, outcome FROM interactions WHERE id = %s", (interaction_id,)).fetchone()
    return (list(row[0]), row[1]) if row else ([], None)


def state_and_agent(conn: Conn, interaction_id: int) -> tuple[str, int | None] | None:
    row = conn.execute("SELECT state, assigned_agent_id FROM interactions WHERE id = %s", (interaction_id,)).fetchone()
    return (row[0], row[1]) if row else None
