"""A campaign's contacts: added from a list or a segment of the profile store, claimed when due
with the facts the contact rules decide on (the do-not-contact list, opt-outs, recent contacts),
put off or refused."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg.types.json import Jsonb

from ...settings.outbound import Segment
from .. import Conn
from ..customers import find_or_create, lock_identity
from . import Campaign, record


@dataclass(frozen=True)
class CampaignContact:
    """One row of a contact list, checked (outbound/contacts.py reads them from CSV)."""

    row: int
    phone: str | None  # E.164
    email: str | None
    name: str | None
    time_zone: str | None
    fields: dict[str, str]  # every other column, for the script or template


@dataclass(frozen=True)
class DueContact:
    """A contact claimed for an attempt, with what the rules need to decide on it."""

    id: int
    customer_id: int
    address: str
    name: str | None
    time_zone: str | None
    fields: dict[str, str]
    attempts: int
    do_not_contact: bool
    opted_out: frozenset[str]
    recent: tuple[datetime, ...]  # attempts that reached the customer in the last 7 days, any campaign


def add_contacts(conn: Conn, campaign: Campaign, contacts: list[CampaignContact], now: datetime) -> tuple[int, int]:
    """The list's contacts as customers (found by number or address, created when new) in the
    campaign: (added, already in it)."""
    added = 0
    kind = "email" if campaign.channel == "email" else "phone"
    for contact in contacts:
        address = contact.email if kind == "email" else contact.phone
        assert address is not None
        customer_id, created = find_or_create(conn, kind, address, contact.name, now)
        other = ("phone", contact.phone) if kind == "email" else ("email", contact.email)
        if created and other[1]:
            lock_identity(conn, *other)
            conn.execute("""INSERT INTO customer_identities (customer_id, kind, value, created_at)
                            VALUES (%s, %s, %s, %s) ON CONFLICT (kind, value) DO NOTHING""",
                         (customer_id, other[0], other[1], now))
        added += conn.execute(
            """INSERT INTO campaign_contacts (campaign_id, customer_id, address, name, time_zone, fields, source_row,
                                              next_attempt_at)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (campaign_id, customer_id) DO NOTHING""",
            (campaign.id, customer_id, address, contact.name, contact.time_zone, Jsonb(contact.fields), contact.row,
             now)).rowcount
    return added, len(contacts) - added


def add_segment(conn: Conn, campaign: Campaign, segment: Segment, now: datetime) -> int:
    """Customers of the profile store who match the segment and can be reached on the channel."""
    kind = "email" if campaign.channel == "email" else "phone"
    return conn.execute(
        """INSERT INTO campaign_contacts (campaign_id, customer_id, address, name, next_attempt_at)
           SELECT DISTINCT ON (c.id) %(campaign)s, c.id, ci.value, c.display_name, %(now)s
           FROM customers c JOIN customer_identities ci ON ci.customer_id = c.id AND ci.kind = %(kind)s
           WHERE c.merged_into IS NULL
             AND (cardinality(%(tiers)s::text[]) = 0 OR c.tier = ANY(%(tiers)s::text[]))
             AND (%(note)s::text IS NULL OR c.notes ILIKE '%%' || %(note)s || '%%')
           ORDER BY c.id, ci.id
           ON CONFLICT (campaign_id, customer_id) DO NOTHING""",
        {"campaign": campaign.id, "kind": kind, "tiers": [t.value for t in segment.tiers],
         "note": segment.note_contains, "now": now}).rowcount


# What the contact rules decide on, for contact `cl` of customer `cu` (claim_due, contact_facts).
_FACTS = """cl.id, cl.customer_id, cl.address, cl.name, cl.time_zone, cl.fields, cl.attempts,
       EXISTS (SELECT FROM do_not_contact d
               WHERE (d.kind, d.value) IN (SELECT ci.kind, ci.value FROM customer_identities ci
                                           WHERE ci.customer_id = cu.id)
                  OR (d.kind = %(kind)s AND d.value = cl.address)),
       cu.opted_out_channels,
       ARRAY(SELECT a.started_at FROM campaign_attempts a
             WHERE a.customer_id = cl.customer_id AND a.reached AND a.started_at > %(now)s - interval '7 days')"""


_CLAIM = """
WITH due AS (
    SELECT id FROM campaign_contacts
    WHERE campaign_id = %(campaign)s AND state = 'pending' AND next_attempt_at <= %(now)s
    ORDER BY next_attempt_at, id LIMIT %(limit)s FOR UPDATE SKIP LOCKED),
claimed AS (
    UPDATE campaign_contacts cc SET state = 'dialing' FROM due WHERE cc.id = due.id
    RETURNING cc.id, cc.customer_id, cc.address, cc.name, cc.time_zone, cc.fields, cc.attempts)
SELECT """ + _FACTS + """
FROM claimed cl JOIN customers cu ON cu.id = cl.customer_id
ORDER BY cl.id"""  # noqa: S608 - constants


def _due(row) -> DueContact:
    return DueContact(*row[:8], frozenset(row[8]), tuple(row[9]))


def claim_due(conn: Conn, campaign: Campaign, now: datetime, limit: int) -> list[DueContact]:
    """Contacts due for an attempt, now `dialing` (no other node takes them), each with the
    facts the contact rules decide on, read in the same statement."""
    if limit <= 0:
        return []
    rows = conn.execute(_CLAIM, {"campaign": campaign.id, "now": now, "limit": limit,
                                 "kind": "email" if campaign.channel == "email" else "phone"}).fetchall()
    return [_due(r) for r in rows]


def defer(conn: Conn, campaign: Campaign, contact: DueContact, retry_at: datetime, reason: str, now: datetime) -> None:
    """Not now (quiet hours, the call window, the weekly cap): back to pending until then. The
    timeline hears of it once per reason, not at every look."""
    previous = conn.execute(
        """UPDATE campaign_contacts cc SET state = 'pending', next_attempt_at = %s, last_reason = %s
           FROM campaign_contacts old WHERE cc.id = %s AND old.id = cc.id RETURNING old.last_reason""",
        (retry_at, reason, contact.id)).fetchone()
    if previous is not None and previous[0] == reason:
        return
    record(conn, "campaign_deferred", now, contact.customer_id, None,
            {"campaign": campaign.name, "reason": reason, "retry_at": retry_at.isoformat()})


def refuse(conn: Conn, campaign: Campaign, contact: DueContact, reason: str, now: datetime) -> None:
    """Never by this campaign (on the do-not-contact list, opted out of the channel)."""
    conn.execute("UPDATE campaign_contacts SET state = 'refused', last_reason = %s WHERE id = %s", (reason, contact.id))
    record(conn, "campaign_contact_refused", now, contact.customer_id, None,
            {"campaign": campaign.name, "channel": campaign.channel, "reason": reason})


def contact_facts(conn: Conn, attempt_id: int, now: datetime) -> DueContact:
    """The rules' facts again, for a check at the moment of dialling (preview mode); `attempts`
    counts those before this one, as at its claim."""
    row = conn.execute(
        "SELECT " + _FACTS + """ FROM campaign_attempts x
           JOIN (SELECT id, customer_id, address, name, time_zone, fields, attempts - 1 AS attempts
                 FROM campaign_contacts) cl ON cl.id = x.contact_id
           JOIN customers cu ON cu.id = cl.customer_id WHERE x.id = %(attempt)s""",  # noqa: S608 - constants
        {"kind": "phone", "now": now, "attempt": attempt_id}).fetchone()
    return _due(row)
