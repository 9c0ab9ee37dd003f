"""What one campaign has done: its contacts by state, attempts by outcome, dispositions,
conversions, replies and the abandon rate of its calls."""

from __future__ import annotations

from typing import Any

from .. import Conn
from . import Campaign


def report(conn: Conn, campaign: Campaign) -> dict[str, Any]:
    contacts = dict(conn.execute("SELECT state, count(*) FROM campaign_contacts WHERE campaign_id = %s GROUP BY state",
                                 (campaign.id,)).fetchall())
    outcomes = dict(conn.execute("""SELECT outcome, count(*) FROM campaign_attempts WHERE campaign_id = %s
                                    AND outcome IS NOT NULL GROUP BY outcome""", (campaign.id,)).fetchall())
    attempts, reached, answered_calls = conn.execute(
        """SELECT count(*),
                  count(DISTINCT a.contact_id) FILTER (WHERE a.reached AND (o.id IS NULL OR o.state = 'sent')),
                  count(*) FILTER (WHERE a.answered_at IS NOT NULL AND a.outcome IN ('connected', 'abandoned'))
           FROM campaign_attempts a LEFT JOIN outbox o ON o.id = a.outbox_id WHERE a.campaign_id = %s""",
        (campaign.id,)).fetchone()
    dispositions = dict(conn.execute(
        """SELECT disposition, count(*) FROM campaign_attempts WHERE campaign_id = %s AND disposition <> ''
           GROUP BY disposition""", (campaign.id,)).fetchall())
    # An answer opens a conversation of its own (SMS), or threads into the campaign's (email).
    replies = conn.execute("""SELECT count(DISTINCT m.interaction_id) FROM messages m
                              JOIN interactions i ON i.id = m.interaction_id
                              WHERE i.campaign_id = %s AND m.direction = 'inbound'""", (campaign.id,)).fetchone()[0]
    conversions = {d: n for d, n in dispositions.items() if d in campaign.settings.conversions}
    abandoned = outcomes.get("abandoned", 0)
    return {
        "campaign": campaign.name, "channel": campaign.channel, "mode": campaign.settings.mode, "state": campaign.state,
        "contacts": sum(contacts.values()), "contacts_by_state": contacts, "attempts": attempts,
        "outcomes": outcomes, "reached": reached, "dispositions": dispositions, "conversions": sum(conversions.values()),
        "conversions_by_disposition": conversions, "replies": replies, "answered_calls": answered_calls,
        "abandon_rate": round(abandoned / answered_calls, 4) if answered_calls else 0.0,
    }
