"""A campaign's attempts: each call, preview or message, its outcome, and what the outcome does
to the contact (done, tried again, refused); the answers a message campaign receives."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from psycopg.types.json import Jsonb

from .. import Conn
from ..agents import NO_PHONE
from ..interactions import QUEUE_NOTIFY_CHANNEL
from ..outbox import enqueue
from . import Campaign, get, record
from .lists import DueContact

# Outcomes after which the contact is tried again (if attempts are left), per RetryAfter.
RETRIED = ("busy", "no_answer", "voicemail", "abandoned", "failed", "lost", "skipped")


def start_attempt(conn: Conn, campaign: Campaign, contact: DueContact, node: str, now: datetime,
                  interaction_id: int | None = None, outbox_id: int | None = None, reached: bool = False,
                  outcome: str | None = None, call_uuid: str | None = None) -> int:
    attempt_id = conn.execute(
        """INSERT INTO campaign_attempts (campaign_id, contact_id, customer_id, channel, node, started_at, outcome,
                                          reached, interaction_id, outbox_id, ended_at, call_uuid)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, CASE WHEN %s::text IS NULL THEN NULL ELSE %s END, %s)
           RETURNING id""",
        (campaign.id, contact.id, contact.customer_id, campaign.channel, node, now, outcome, reached, interaction_id,
         outbox_id, outcome, now, call_uuid)).fetchone()[0]
    conn.execute("UPDATE campaign_contacts SET attempts = attempts + 1, last_reason = NULL WHERE id = %s",
                 (contact.id,))
    record(conn, "campaign_attempt", now, contact.customer_id, interaction_id,
            {"campaign": campaign.name, "channel": campaign.channel, "attempt": contact.attempts + 1,
             "attempt_id": attempt_id, "address": contact.address, "mode": campaign.settings.mode
             if campaign.channel == "voice" else None})
    return attempt_id


def finish_attempt(conn: Conn, attempt_id: int, outcome: str, now: datetime, detail: str | None = None,
                   reached: bool = False, agent_id: int | None = None) -> None:
    """The attempt's outcome; the contact is done, tried again later (per the campaign's
    retry_after_s, while attempts are left) or refused (an invalid number)."""
    row = conn.execute(
        """UPDATE campaign_attempts SET outcome = %s, ended_at = %s, detail = %s, reached = reached OR %s,
                                        agent_id = COALESCE(%s, agent_id)
           WHERE id = %s AND (outcome IS NULL OR outcome = 'connected')
           RETURNING campaign_id, contact_id, customer_id, interaction_id""",
        (outcome, now, detail, reached, agent_id, attempt_id)).fetchone()
    if row is None:
        return  # settled already (by another node's sweep, or twice heard)
    campaign_id, contact_id, customer_id, interaction_id = row
    campaign = get(conn, campaign_id)
    assert campaign is not None
    _settle_contact(conn, campaign, contact_id, outcome, now)
    record(conn, "campaign_outcome", now, customer_id, interaction_id,
            {"campaign": campaign.name, "attempt_id": attempt_id, "outcome": outcome, "detail": detail},
            agent_id=agent_id)


def _settle_contact(conn: Conn, campaign: Campaign, contact_id: int, outcome: str, now: datetime) -> None:
    settings = campaign.settings
    if outcome in RETRIED:
        after = getattr(settings.retry_after_s, outcome)
        conn.execute(
            """UPDATE campaign_contacts SET last_outcome = %(o)s,
                      state = CASE WHEN attempts >= %(max)s THEN 'exhausted' ELSE 'pending' END,
                      next_attempt_at = %(at)s
               WHERE id = %(id)s""",
            {"o": outcome, "max": settings.max_attempts, "at": now + timedelta(seconds=after), "id": contact_id})
    elif outcome == "connected":
        conn.execute("UPDATE campaign_contacts SET last_outcome = %s WHERE id = %s", (outcome, contact_id))
    else:  # sent, handled; invalid (no such number), refused (the rules said no at dial time)
        conn.execute("UPDATE campaign_contacts SET last_outcome = %s, state = %s WHERE id = %s",
                     (outcome, "refused" if outcome in ("invalid", "refused") else "done", contact_id))


def answered(conn: Conn, attempt_id: int, call_uuid: str, now: datetime) -> int | None:
    """The customer picked up: an outbound voice interaction waits in the campaign's queue, at
    the head of it (an answered customer must not wait), for the router to offer to an agent."""
    row = conn.execute(
        """WITH a AS (
               UPDATE campaign_attempts SET answered_at = %(now)s, call_uuid = %(uuid)s
               WHERE id = %(a)s AND outcome IS NULL RETURNING campaign_id, customer_id, contact_id),
           i AS (
               INSERT INTO interactions (channel, direction, state, endpoint, queue_id, priority, customer_id, subject,
                                         created_at, queued_at, queue_entered_at, last_message_at, campaign_id)
               SELECT 'voice', 'outbound', 'queued', 'campaign:' || c.name, c.queue_id, 1000, a.customer_id,
                      'Campaign call: ' || COALESCE(NULLIF(c.settings ->> 'title', ''), c.name),
                      %(now)s, %(now)s, %(now)s, %(now)s, c.id
               FROM a JOIN campaigns c ON c.id = a.campaign_id
               RETURNING id, customer_id, queue_id)
           SELECT i.id, cic_record('queued', %(now)s, i.customer_id, i.id, NULL, 'dialer',
                                   jsonb_build_object('queue_id', i.queue_id, 'campaign_attempt', %(a)s::bigint)),
                  pg_notify('""" + QUEUE_NOTIFY_CHANNEL + """', i.id::text)
           FROM i""",  # noqa: S608 - a constant
        {"a": attempt_id, "uuid": call_uuid, "now": now}).fetchone()
    if row is None:
        return None
    conn.execute("UPDATE campaign_attempts SET interaction_id = %s WHERE id = %s", (row[0], attempt_id))
    return row[0]


def preview(conn: Conn, campaign: Campaign, contact: DueContact, node: str, now: datetime) -> int:
    """Preview mode: the record waits in the campaign's queue as an outbound voice
    interaction; the agent it is offered to reads it, then dials (or skips)."""
    who = contact.name or contact.address
    interaction_id = conn.execute(
        """INSERT INTO interactions (channel, direction, state, endpoint, queue_id, customer_id, subject, created_at,
                                     queued_at, queue_entered_at, last_message_at, campaign_id)
           VALUES ('voice', 'outbound', 'queued', %(endpoint)s, %(q)s, %(c)s, %(subject)s, %(now)s, %(now)s, %(now)s,
                   %(now)s, %(campaign)s) RETURNING id""",
        {"endpoint": f"campaign:{campaign.name}", "q": campaign.queue_id, "c": contact.customer_id,
         "subject": f"Preview: call {who} ({contact.address})", "now": now, "campaign": campaign.id}).fetchone()[0]
    attempt_id = start_attempt(conn, campaign, contact, node, now, interaction_id=interaction_id)
    conn.execute("SELECT cic_record('queued', %s, %s, %s, NULL, 'dialer', %s), pg_notify(%s, %s)",
                 (now, contact.customer_id, interaction_id, Jsonb({"queue_id": campaign.queue_id,
                                                                  "campaign_attempt": attempt_id}),
                  QUEUE_NOTIFY_CHANNEL, str(interaction_id)))
    return attempt_id


@dataclass(frozen=True)
class AttemptInfo:
    id: int
    campaign: Campaign
    contact_id: int
    customer_id: int
    address: str
    interaction_id: int | None
    outcome: str | None


def attempt(conn: Conn, attempt_id: int | None = None, interaction_id: int | None = None) -> AttemptInfo | None:
    """An attempt by its id, or the latest of an interaction (each lookup on its own index)."""
    key, value = ("a.id", attempt_id) if attempt_id is not None else ("a.interaction_id", interaction_id)
    row = conn.execute(
        f"""SELECT a.id, a.campaign_id, a.contact_id, a.customer_id, cc.address, a.interaction_id, a.outcome
            FROM campaign_attempts a JOIN campaign_contacts cc ON cc.id = a.contact_id
            WHERE {key} = %s ORDER BY a.id DESC LIMIT 1""",  # noqa: S608 - one of two constants
        (value,)).fetchone()
    if row is None:
        return None
    campaign = get(conn, row[1])
    assert campaign is not None
    return AttemptInfo(row[0], campaign, row[2], row[3], row[4], row[5], row[6])


def under_way(conn: Conn, campaign_id: int) -> tuple[int, int]:
    """The campaign's attempts under way on every node: (ringing or offered as previews,
    answered and waiting for an agent)."""
    return conn.execute("""SELECT count(*) FILTER (WHERE answered_at IS NULL), count(*) FILTER (WHERE answered_at IS NOT NULL)
                           FROM campaign_attempts WHERE campaign_id = %s AND outcome IS NULL""",
                        (campaign_id,)).fetchone()


def free_agents(conn: Conn, queue_id: int) -> int:
    """Agents of the queue who could take a call now."""
    return conn.execute(
        f"""SELECT count(*) FROM agents a JOIN agent_queues q ON q.agent_id = a.id AND q.queue_id = %s
           WHERE a.presence = 'available' AND a.loads[1] < a.caps[1] AND NOT {NO_PHONE}
             AND NOT (a.voice_exclusive AND (SELECT sum(x) FROM unnest(a.loads) AS x) > 0)
             AND a.state <> 'wrap_up'""", (queue_id,)).fetchone()[0]  # noqa: S608 - constant


def settle_closed(conn: Conn, campaign: Campaign, now: datetime) -> int:
    """Connected calls whose interaction an agent closed: the disposition decides whether the
    contact is done (a machine, or a 'call me later', is tried again)."""
    skipped = conn.execute(
        """SELECT a.id FROM campaign_attempts a JOIN interactions i ON i.id = a.interaction_id
           WHERE a.campaign_id = %s AND a.outcome IS NULL AND a.answered_at IS NULL AND i.state = 'closed'""",
        (campaign.id,)).fetchall()
    for (attempt_id,) in skipped:  # a preview the agent ended without dialling
        finish_attempt(conn, attempt_id, "skipped", now, detail="ended by the agent without a call")
    rows = conn.execute(
        """UPDATE campaign_attempts a SET disposition = COALESCE(i.disposition, ''), agent_id = i.assigned_agent_id
           FROM interactions i
           WHERE a.campaign_id = %s AND a.outcome = 'connected' AND a.disposition IS NULL
             AND i.id = a.interaction_id AND i.state = 'closed'
           RETURNING a.id, a.contact_id, a.disposition""", (campaign.id,)).fetchall()
    settings = campaign.settings
    for _attempt_id, contact_id, disposition in rows:
        if disposition in settings.machine_dispositions:
            _settle_contact(conn, campaign, contact_id, "voicemail", now)
        elif disposition in settings.retry_dispositions:
            _settle_contact(conn, campaign, contact_id, "no_answer", now)
        else:
            _settle_contact(conn, campaign, contact_id, "handled", now)
    return len(rows)


@dataclass(frozen=True)
class LeftOver:
    """A campaign call this node had under way when it stopped."""

    attempt_id: int
    outcome: str | None
    interaction_id: int | None
    interaction_state: str | None
    agent_id: int | None
    call_uuid: str | None


def left_over(conn: Conn, node: str) -> list[LeftOver]:
    """This node's campaign calls under way or talking, as the database last saw them. A
    preview not dialled yet is no call: it stays with its agent."""
    rows = conn.execute(
        """SELECT a.id, a.outcome, a.interaction_id, i.state, i.assigned_agent_id, a.call_uuid
           FROM campaign_attempts a LEFT JOIN interactions i ON i.id = a.interaction_id
           WHERE a.node = %s AND a.channel = 'voice'
             AND ((a.outcome IS NULL AND (a.interaction_id IS NULL OR a.answered_at IS NOT NULL))
                  OR (a.outcome = 'connected' AND i.state IN ('queued', 'offered', 'active')))
           ORDER BY a.id""", (node,)).fetchall()
    return [LeftOver(*r) for r in rows]


def recent_voice_outcomes(conn: Conn, campaign_id: int, limit: int = 200) -> list[tuple[bool, bool]]:
    """(answered, abandoned) of the campaign's latest finished calls, oldest first: the pacer's
    memory across a restart."""
    rows = conn.execute(
        """SELECT answered_at IS NOT NULL AND outcome IN ('connected', 'abandoned'), outcome = 'abandoned'
           FROM (SELECT * FROM campaign_attempts WHERE campaign_id = %s AND outcome IS NOT NULL
                 ORDER BY id DESC LIMIT %s) x ORDER BY id""", (campaign_id, limit)).fetchall()
    return [(r[0], r[1]) for r in rows]


def start_message(conn: Conn, campaign: Campaign, contact: DueContact, node: str, adapter: str,
                  our_address: str | None, text: str, subject: str | None, message_id: str | None,
                  now: datetime) -> int:
    """An SMS or email of the campaign: an outbound interaction (closed: nobody waits on it; the
    customer's answer opens a new one, linked to the campaign), its outbox row, the attempt."""
    interaction_id = conn.execute(
        """WITH i AS (
               INSERT INTO interactions (channel, direction, state, endpoint, queue_id, customer_id, subject,
                                         created_at, last_message_at, closed_at, outcome, campaign_id)
               VALUES (%(ch)s, 'outbound', 'closed', %(endpoint)s, %(q)s, %(c)s, %(subject)s, %(now)s, %(now)s,
                       %(now)s, 'campaign', %(campaign)s) RETURNING id)
           SELECT id FROM i""",
        {"ch": campaign.channel, "endpoint": our_address or adapter, "q": campaign.queue_id, "c": contact.customer_id,
         "subject": subject or f"Campaign {campaign.name}", "now": now, "campaign": campaign.id}).fetchone()[0]
    # At most once: a campaign would rather miss a customer than write to them twice (outbox.release_stuck).
    payload = {"subject": subject, "text": text, "kind": "campaign", "agent_id": None, "thread_refs": [],
               "quote": None, "attachments": [], "campaign": campaign.name, "at_most_once": True}
    outbox_id = enqueue(conn, interaction_id, campaign.channel, adapter, contact.address, payload, message_id, now)
    attempt_id = start_attempt(conn, campaign, contact, node, now, interaction_id=interaction_id, outbox_id=outbox_id,
                               reached=True, outcome="sent")
    _settle_contact(conn, campaign, contact.id, "sent", now)
    return attempt_id


def link_replies(conn: Conn, interaction_ids: list[int], now: datetime) -> list[tuple[int, int]]:
    """New interactions from customers a message campaign wrote to on that channel within its
    reply window belong to that campaign: (interaction, campaign) of each linked."""
    rows = conn.execute(
        """WITH latest AS (
               SELECT DISTINCT ON (i.id) i.id AS interaction_id, i.customer_id, a.campaign_id, c.name
               FROM interactions i
               JOIN campaign_attempts a ON a.customer_id = i.customer_id AND a.channel = i.channel
                    AND a.outbox_id IS NOT NULL
               JOIN campaigns c ON c.id = a.campaign_id
               WHERE i.id = ANY(%(ids)s) AND i.campaign_id IS NULL AND i.direction = 'inbound'
                 AND a.started_at > %(now)s - make_interval(secs => (c.settings ->> 'reply_window_h')::float8 * 3600)
               ORDER BY i.id, a.started_at DESC),
           linked AS (
               UPDATE interactions SET campaign_id = latest.campaign_id FROM latest
               WHERE interactions.id = latest.interaction_id RETURNING interactions.id)
           SELECT l.interaction_id, l.campaign_id,
                  cic_record('campaign_reply', %(now)s, l.customer_id, l.interaction_id, NULL, NULL,
                             jsonb_build_object('campaign', l.name))
           FROM latest l JOIN linked k ON k.id = l.interaction_id""",
        {"ids": interaction_ids, "now": now}).fetchall()
    return [(r[0], r[1]) for r in rows]
