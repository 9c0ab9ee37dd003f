"""The offer protocol in SQL: reserve and offer, accept, release (reject, timeout, withdraw),
end of work, wrap-up and close.

Invariants, kept by row locks and nothing else, so several engine processes can share one
database: an agent's `loads[slot]` counts the interactions of that channel it holds (offered,
active or in wrap-up) and only changes under the agent's row lock, in the same statement that
moves the interaction; an interaction is offered only from `queued`, under its own row lock.
The reservation takes both locks with SKIP LOCKED and re-checks capacity on the locked row, so
a concurrent change means "not this time", never a double booking. Single-interaction
statements lock the interaction first and then its agent(s).

Every statement records its timeline rows through cic_record(), which also NOTIFYs
cic_events; a statement that can let a router make progress NOTIFYs cic_queue.
Releasing events carry `"release": true`: replaying offered (+1) and releases (-1) per agent
rebuilds its load at any point of the timeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg.types.json import Jsonb

from . import Conn
from .interactions import QUEUE_NOTIFY_CHANNEL


@dataclass(frozen=True)
class OfferPair:
    interaction_id: int
    agent_id: int
    cap: int  # the most the agent may hold on the channel, this queue's limit included
    exclusive: bool  # the agent takes no other channel while on a call
    queue_id: int
    expires_at: datetime


_OFFER = """
WITH p AS (
    SELECT * FROM unnest(%(i)s::bigint[], %(a)s::bigint[], %(cap)s::int[], %(excl)s::bool[], %(q)s::bigint[],
                         %(exp)s::timestamptz[]) AS p(interaction_id, agent_id, cap, exclusive, queue_id, expires_at)),
it AS (
    SELECT i.id, i.channel, i.customer_id, cic_channel_slot(i.channel) AS slot FROM interactions i
    WHERE i.id IN (SELECT interaction_id FROM p) AND i.state = 'queued'
    FOR UPDATE SKIP LOCKED),
ag AS (
    SELECT a.id, a.loads FROM agents a
    WHERE a.id IN (SELECT agent_id FROM p) AND a.presence = 'available'
    FOR UPDATE SKIP LOCKED),
ok AS (
    SELECT p.*, it.channel, it.customer_id, it.slot FROM p
    JOIN it ON it.id = p.interaction_id JOIN ag ON ag.id = p.agent_id
    WHERE ag.loads[it.slot] < p.cap AND NOT (p.exclusive AND it.slot <> 1 AND ag.loads[1] > 0)),
ui AS (
    UPDATE interactions i SET state = 'offered', offered_to = g.agents, offer_expires_at = g.expires_at
    FROM (SELECT interaction_id, array_agg(agent_id ORDER BY agent_id) AS agents, min(expires_at) AS expires_at
          FROM ok GROUP BY interaction_id) g
    WHERE i.id = g.interaction_id),
ua AS (
    UPDATE agents a SET loads[ok.slot] = a.loads[ok.slot] + 1, updated_at = %(now)s
    FROM ok WHERE a.id = ok.agent_id),
uq AS (
    UPDATE agent_queues q SET last_offered_at = %(now)s
    FROM ok WHERE q.agent_id = ok.agent_id AND q.queue_id = ok.queue_id)
SELECT ok.interaction_id, ok.agent_id,
       cic_record('offered', %(now)s, ok.customer_id, ok.interaction_id, ok.agent_id, %(actor)s,
                  jsonb_build_object('channel', ok.channel, 'queue_id', ok.queue_id, 'expires_at', ok.expires_at))
FROM ok"""


def offer(conn: Conn, pairs: list[OfferPair], now: datetime, actor: str | None = None) -> list[tuple[int, int]]:
    """Reserve each pair's agent and offer it the interaction; returns the (interaction, agent)
    pairs that were made. A pair whose interaction or agent is locked elsewhere, is no longer
    queued / available, or whose agent is full or on a call (exclusive) is skipped."""
    if not pairs:
        return []
    rows = conn.execute(_OFFER, {
        "i": [p.interaction_id for p in pairs], "a": [p.agent_id for p in pairs], "cap": [p.cap for p in pairs],
        "excl": [p.exclusive for p in pairs], "q": [p.queue_id for p in pairs],
        "exp": [p.expires_at for p in pairs], "now": now, "actor": actor,
    }).fetchall()
    return [(r[0], r[1]) for r in rows]


_ACCEPT = """
WITH cur AS (
    SELECT id, channel, customer_id, offered_to, cic_channel_slot(channel) AS slot FROM interactions
    WHERE id = %(i)s AND state = 'offered' AND %(a)s = ANY (offered_to)
    FOR UPDATE),
i AS (
    UPDATE interactions t SET state = 'active', assigned_agent_id = %(a)s, answered_at = %(now)s,
                              offered_to = '{}', offer_expires_at = NULL
    FROM cur WHERE t.id = cur.id),
me AS (
    UPDATE agents a SET missed_offers = 0 FROM cur WHERE a.id = %(a)s),
others AS (
    -- ring-all: the other agents who were offered the call get their slot back
    UPDATE agents a SET loads[cur.slot] = a.loads[cur.slot] - 1, updated_at = %(now)s
    FROM cur WHERE a.id = ANY (array_remove(cur.offered_to, %(a)s::bigint))
    RETURNING a.id)
SELECT cic_record('accepted', %(now)s, cur.customer_id, cur.id, %(a)s, %(actor)s,
                  jsonb_build_object('channel', cur.channel)),
       (SELECT count(cic_record('offer_withdrawn', %(now)s, cur.customer_id, cur.id, o.id, NULL,
                                jsonb_build_object('channel', cur.channel, 'release', true, 'reason', 'taken')))
        FROM others o)
FROM cur"""


def accept(conn: Conn, interaction_id: int, agent_id: int, now: datetime, actor: str | None) -> bool:
    """False when the agent holds no offer of this interaction (expired, withdrawn, taken)."""
    return conn.execute(_ACCEPT, {"i": interaction_id, "a": agent_id, "now": now, "actor": actor}).fetchone() is not None


_RELEASE = """
WITH cur AS (
    SELECT id, channel, customer_id, offered_to, cic_channel_slot(channel) AS slot FROM interactions
    WHERE id = %(i)s AND state = 'offered' AND %(a)s = ANY (offered_to)
      AND (%(due)s::timestamptz IS NULL OR offer_expires_at <= %(due)s)
    FOR UPDATE),
i AS (
    UPDATE interactions t SET
        offered_to = array_remove(cur.offered_to, %(a)s::bigint),
        state = CASE WHEN cardinality(cur.offered_to) = 1 THEN 'queued' ELSE 'offered' END,
        offer_expires_at = CASE WHEN cardinality(cur.offered_to) = 1 THEN NULL ELSE t.offer_expires_at END,
        excluded_agents = CASE WHEN %(exclude)s THEN t.excluded_agents || %(a)s::bigint ELSE t.excluded_agents END,
        excluded_until = CASE WHEN %(exclude)s THEN %(now)s + make_interval(secs => %(reoffer)s)
                              ELSE t.excluded_until END
    FROM cur WHERE t.id = cur.id),
a AS (
    -- SET expressions all read the row as it was: the away test sees the count before this miss.
    UPDATE agents a SET loads[cur.slot] = a.loads[cur.slot] - 1,
        missed_offers = a.missed_offers + CASE WHEN %(missed)s THEN 1 ELSE 0 END,
        presence = CASE WHEN %(missed)s AND a.missed_offers + 1 >= %(max_missed)s AND a.presence = 'available'
                        THEN 'away' ELSE a.presence END,
        away_reason = CASE WHEN %(missed)s AND a.missed_offers + 1 >= %(max_missed)s AND a.presence = 'available'
                           THEN 'missed-offers' ELSE a.away_reason END,
        updated_at = %(now)s
    FROM cur WHERE a.id = %(a)s
    RETURNING a.presence)
SELECT cic_record(%(kind)s, %(now)s, cur.customer_id, cur.id, %(a)s, %(actor)s,
                  jsonb_build_object('channel', cur.channel, 'release', true,
                                     'requeued', cardinality(cur.offered_to) = 1, 'reason', %(reason)s::text)),
       pg_notify(%(wake)s, 'interaction:' || cur.id),
       (SELECT presence FROM a)
FROM cur"""


def release(
    conn: Conn, interaction_id: int, agent_id: int, now: datetime, *, kind: str, exclude: bool,
    missed: bool = False, max_missed: int = 0, reason: str | None = None, actor: str | None = None,
    expired_by: datetime | None = None, reoffer_after_s: float = 0.0,
) -> str | None:
    """Take an offer back from an agent: the interaction goes back to the queue at its place
    (once no other agent holds it) and the agent gets the slot back. `kind`: offer_rejected,
    offer_timeout or offer_withdrawn. `exclude` keeps the interaction from this agent for
    `reoffer_after_s` (the exclusions of an interaction all end together); `missed` counts towards the agent's missed offers (away at max_missed).
    `expired_by`: only if the offer expired by then (a timer must not take back a newer offer).
    Returns the agent's presence afterwards, None when the agent held no such offer."""
    row = conn.execute(_RELEASE, {
        "i": interaction_id, "a": agent_id, "now": now, "kind": kind, "exclude": exclude, "missed": missed,
        "max_missed": max_missed, "reason": reason, "actor": actor, "due": expired_by, "wake": QUEUE_NOTIFY_CHANNEL,
        "reoffer": reoffer_after_s,
    }).fetchone()
    return row[2] if row else None


_END = """
WITH cur AS (
    SELECT id, channel, customer_id, assigned_agent_id AS agent, cic_channel_slot(channel) AS slot,
           COALESCE((%(wraps)s::jsonb ->> queue_id::text)::float8, 0) AS wrap
    FROM interactions WHERE id = %(i)s AND state = 'active' AND assigned_agent_id = %(a)s
    FOR UPDATE),
i AS (
    UPDATE interactions t SET
        state = CASE WHEN cur.wrap > 0 THEN 'wrap_up' ELSE 'closed' END,
        wrap_up_until = CASE WHEN cur.wrap > 0 THEN %(now)s + make_interval(secs => cur.wrap) END,
        closed_at = CASE WHEN cur.wrap > 0 THEN NULL ELSE %(now)s END,
        outcome = %(outcome)s
    FROM cur WHERE t.id = cur.id),
a AS (
    UPDATE agents a SET loads[cur.slot] = a.loads[cur.slot] - CASE WHEN cur.wrap > 0 THEN 0 ELSE 1 END,
                        wrap_ups = a.wrap_ups + CASE WHEN cur.wrap > 0 THEN 1 ELSE 0 END,
                        updated_at = %(now)s
    FROM cur WHERE a.id = cur.agent)
SELECT cic_record(CASE WHEN cur.wrap > 0 THEN 'wrap_up' ELSE 'closed' END, %(now)s, cur.customer_id, cur.id,
                  cur.agent, %(actor)s,
                  jsonb_build_object('channel', cur.channel, 'release', cur.wrap = 0, 'outcome', %(outcome)s::text,
                                     'wrap_up_s', cur.wrap)),
       CASE WHEN cur.wrap = 0 THEN pg_notify(%(wake)s, 'agent:' || cur.agent) END
FROM cur"""


def end_work(
    conn: Conn, interaction_id: int, agent_id: int, now: datetime, wrap_up_s: dict[int, float], outcome: str,
    actor: str | None,
) -> bool:
    """An active interaction ends: into wrap-up for its queue's wrap-up time (`wrap_up_s` by
    queue id; the agent keeps the slot), or closed at once when that is 0. One statement, so
    it needs no transaction of its own. False when the agent is not working it."""
    row = conn.execute(_END, {
        "i": interaction_id, "a": agent_id, "now": now, "wraps": Jsonb({str(k): v for k, v in wrap_up_s.items()}),
        "outcome": outcome, "actor": actor, "wake": QUEUE_NOTIFY_CHANNEL,
    }).fetchone()
    return row is not None


_CLOSE_WRAP_UP = """
WITH cur AS (
    SELECT id, channel, customer_id, assigned_agent_id AS agent, cic_channel_slot(channel) AS slot
    FROM interactions
    WHERE id = %(i)s AND state = 'wrap_up' AND (%(a)s::bigint IS NULL OR assigned_agent_id = %(a)s)
    FOR UPDATE),
i AS (
    UPDATE interactions t SET state = 'closed', closed_at = %(now)s, wrap_up_until = NULL,
                              disposition = %(disposition)s
    FROM cur WHERE t.id = cur.id),
a AS (
    UPDATE agents a SET loads[cur.slot] = a.loads[cur.slot] - 1, wrap_ups = a.wrap_ups - 1, updated_at = %(now)s
    FROM cur WHERE a.id = cur.agent)
SELECT cic_record('closed', %(now)s, cur.customer_id, cur.id, cur.agent, %(actor)s,
                  jsonb_build_object('channel', cur.channel, 'release', true, 'disposition', %(disposition)s::text,
                                     'by', CASE WHEN %(a)s::bigint IS NULL THEN 'wrap-up timer' ELSE 'agent' END)),
       pg_notify(%(wake)s, 'agent:' || cur.agent)
FROM cur"""


def close_wrap_up(
    conn: Conn, interaction_id: int, agent_id: int | None, now: datetime, disposition: str | None, actor: str | None,
) -> bool:
    """Wrap-up done (by the agent, or by the timer when agent_id is None): closed, slot freed."""
    row = conn.execute(_CLOSE_WRAP_UP, {
        "i": interaction_id, "a": agent_id, "now": now, "disposition": disposition, "actor": actor,
        "wake": QUEUE_NOTIFY_CHANNEL,
    }).fetchone()
    return row is not None


_REQUEUE = """
WITH cur AS (
    SELECT id, channel, customer_id, assigned_agent_id AS agent, cic_channel_slot(channel) AS slot
    FROM interactions WHERE id = %(i)s AND state = 'active' AND assigned_agent_id = %(a)s
    FOR UPDATE),
i AS (
    -- The sender is passed over for a while: a transfer is not meant to come straight back.
    UPDATE interactions t SET state = 'queued', assigned_agent_id = NULL, excluded_agents = ARRAY[cur.agent],
                              excluded_until = %(now)s + make_interval(secs => %(reoffer)s)
    FROM cur WHERE t.id = cur.id),
a AS (
    UPDATE agents a SET loads[cur.slot] = a.loads[cur.slot] - 1, updated_at = %(now)s
    FROM cur WHERE a.id = cur.agent)
SELECT cic_record('transferred', %(now)s, cur.customer_id, cur.id, cur.agent, %(actor)s,
                  jsonb_build_object('channel', cur.channel, 'release', true) || %(data)s::jsonb)
FROM cur"""


def requeue(conn: Conn, interaction_id: int, agent_id: int, now: datetime, data: dict, actor: str | None,
            reoffer_after_s: float = 0.0) -> bool:
    """The agent hands an active interaction back to a queue (a blind transfer): the agent's
    slot is freed at once and the interaction waits again, not offered back to that agent for
    `reoffer_after_s`. False when the agent is not on it."""
    row = conn.execute(_REQUEUE, {"i": interaction_id, "a": agent_id, "now": now, "data": Jsonb(data),
                                  "actor": actor, "reoffer": reoffer_after_s}).fetchone()
    return row is not None


_HAND_OVER = """
WITH cur AS (
    SELECT id, channel, customer_id, cic_channel_slot(channel) AS slot
    FROM interactions WHERE id = %(i)s AND state = 'active' AND assigned_agent_id = %(a)s
    FOR UPDATE),
i AS (
    UPDATE interactions t SET assigned_agent_id = %(b)s FROM cur WHERE t.id = cur.id),
a AS (
    -- The agent who took the call over is on it already: the slot is counted whatever the cap.
    UPDATE agents a SET loads[cur.slot] = a.loads[cur.slot] + CASE WHEN a.id = %(b)s THEN 1 ELSE -1 END,
                        updated_at = %(now)s
    FROM cur WHERE a.id IN (%(a)s, %(b)s))
SELECT cic_record('transferred', %(now)s, cur.customer_id, cur.id, %(b)s, %(actor)s,
                  jsonb_build_object('channel', cur.channel, 'from_agent_id', %(a)s::bigint, 'attended', true)),
       pg_notify(%(wake)s, 'agent:' || %(a)s)
FROM cur"""


def hand_over(conn: Conn, interaction_id: int, agent_id: int, to_agent_id: int, now: datetime, actor: str | None) -> bool:
    """An attended transfer completed to another agent: the interaction is theirs, and the
    first agent's slot is free."""
    row = conn.execute(_HAND_OVER, {"i": interaction_id, "a": agent_id, "b": to_agent_id, "now": now,
                                    "actor": actor, "wake": QUEUE_NOTIFY_CHANNEL}).fetchone()
    return row is not None
