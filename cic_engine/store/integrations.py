"""Integrations in SQL: API tokens (only their sha256 kept), webhook subscriptions, and the
webhook deliveries, which are rows of the outbox (adapter `webhook:<subscription id>`) written
by a trigger on the timeline (schemas/sql/0018_integrations.sql)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from . import Conn
from .outbox import notify_queued


@dataclass(frozen=True)
class Integration:
    """Who an API request comes from: a token's integration and what its scopes allow. It sees
    every interaction, customer and case (visibility: like the engine itself)."""

    token_id: int
    name: str
    scopes: frozenset[str]
    agent_id: None = None
    roles: frozenset[str] = frozenset()
    queue_ids: frozenset[int] = frozenset()
    department_id: None = None

    @property
    def login(self) -> str:
        return f"api:{self.name}"


# Tokens ---------------------------------------------------------------------------------------

def create_token(conn: Conn, name: str, token_hash: bytes, scopes: list[str], created_by: int | None,
                 now: datetime) -> int | None:
    """The new token's id; None when an integration of that name has a token already."""
    row = conn.execute(
        """INSERT INTO api_tokens (name, token_hash, scopes, created_by, created_at) VALUES (%s, %s, %s, %s, %s)
           ON CONFLICT (name) DO NOTHING RETURNING id""", (name, token_hash, scopes, created_by, now)).fetchone()
    return row[0] if row else None


def integration(conn: Conn, token_hash: bytes, now: datetime) -> Integration | None:
    """The integration holding this token, unless it was revoked; its use is noted (at most
    once a minute, so a busy integration does not write a row per request)."""
    row = conn.execute(
        """WITH t AS (SELECT id, name, scopes, last_used_at FROM api_tokens
                      WHERE token_hash = %(h)s AND revoked_at IS NULL),
                used AS (UPDATE api_tokens a SET last_used_at = %(now)s FROM t
                         WHERE a.id = t.id AND (t.last_used_at IS NULL OR t.last_used_at < %(now)s - interval '1 minute'))
           SELECT id, name, scopes FROM t""", {"h": token_hash, "now": now}).fetchone()
    return Integration(row[0], row[1], frozenset(row[2])) if row else None


def tokens(conn: Conn) -> list[dict[str, Any]]:
    rows = conn.execute(
        """SELECT t.id, t.name, t.scopes, a.login, t.created_at, t.last_used_at, t.revoked_at
           FROM api_tokens t LEFT JOIN agents a ON a.id = t.created_by ORDER BY t.id""").fetchall()
    keys = ("id", "name", "scopes", "created_by", "created_at", "last_used_at", "revoked_at")
    return [dict(zip(keys, r, strict=True)) for r in rows]


def revoke_token(conn: Conn, token_id: int, now: datetime) -> bool:
    return conn.execute("UPDATE api_tokens SET revoked_at = %s WHERE id = %s AND revoked_at IS NULL",
                        (now, token_id)).rowcount == 1


# Webhook subscriptions ------------------------------------------------------------------------

SUBSCRIPTION_KEYS = ("id", "name", "url", "events", "active", "created_at")


def subscribe(conn: Conn, name: str, url: str, secret: str, events: list[str], created_by: int | None,
              now: datetime) -> int:
    row = conn.execute(
        """INSERT INTO webhook_subscriptions (name, url, secret, events, created_by, created_at)
           VALUES (%s, %s, %s, %s, %s, %s) RETURNING id""", (name, url, secret, events, created_by, now)).fetchone()
    _changed(conn)
    return row[0]


def set_active(conn: Conn, subscription_id: int, active: bool) -> bool:
    changed = conn.execute("UPDATE webhook_subscriptions SET active = %s WHERE id = %s",
                           (active, subscription_id)).rowcount == 1
    _changed(conn)
    return changed


def subscriptions(conn: Conn) -> list[dict[str, Any]]:
    rows = conn.execute(f"SELECT {', '.join(SUBSCRIPTION_KEYS)} FROM webhook_subscriptions ORDER BY id").fetchall()  # noqa: S608 - constants
    return [dict(zip(SUBSCRIPTION_KEYS, r, strict=True)) for r in rows]


def senders(conn: Conn) -> list[tuple[int, str, str]]:
    """(id, url, secret) of every subscription whose deliveries may still be due: an inactive
    one's queued deliveries still go out (they were promised when it was active)."""
    return conn.execute(
        """SELECT s.id, s.url, s.secret FROM webhook_subscriptions s
           WHERE s.active OR EXISTS (SELECT FROM outbox o WHERE o.adapter = 'webhook:' || s.id
                                       AND o.state IN ('pending', 'sending'))
           ORDER BY s.id""").fetchall()


def _changed(conn: Conn) -> None:
    conn.execute("SELECT cic_webhooks_switch()")  # the timeline's trigger is on only while someone listens
    # Every node runs the senders of every subscription: each hears of the change at commit.
    conn.execute("""SELECT pg_notify('cic_events', jsonb_build_object('event', 'webhooks.changed',
                                                                      'at', now())::text)""")


# Deliveries -----------------------------------------------------------------------------------

DELIVERY_KEYS = ("id", "subscription_id", "event", "interaction_id", "state", "attempts", "last_error",
                 "created_at", "next_attempt_at", "sent_at")


def deliveries(conn: Conn, subscription_id: int | None, state: str | None, before: int | None,
               limit: int = 100) -> list[dict[str, Any]]:
    """The delivery log, newest first, `limit` at a time (`before` an id pages back)."""
    rows = conn.execute(
        """SELECT id, substr(adapter, 9)::bigint, payload ->> 'event', interaction_id, state, attempts, last_error,
                  created_at, next_attempt_at, sent_at
           FROM outbox WHERE channel = 'webhook'
             AND (%(sub)s::bigint IS NULL OR adapter = 'webhook:' || %(sub)s)
             AND (%(state)s::text IS NULL OR state = %(state)s)
             AND (%(before)s::bigint IS NULL OR id < %(before)s)
           ORDER BY id DESC LIMIT %(limit)s""",
        {"sub": subscription_id, "state": state, "before": before, "limit": limit}).fetchall()
    return [dict(zip(DELIVERY_KEYS, r, strict=True)) for r in rows]


def replay(conn: Conn, delivery_id: int, now: datetime) -> int | None:
    """A new delivery of the same event, with the same body, due now; None when there is no
    such delivery. It goes after the subscription's others for the same interaction."""
    row = conn.execute(
        """INSERT INTO outbox (interaction_id, channel, adapter, recipient, payload, created_at, next_attempt_at,
                               ordering_key)
           SELECT interaction_id, channel, adapter, recipient, payload || jsonb_build_object('replay_of', id),
                  %(now)s, %(now)s, ordering_key
           FROM outbox WHERE id = %(id)s AND channel = 'webhook' RETURNING id, adapter, interaction_id""",
        {"id": delivery_id, "now": now}).fetchone()
    if row is None:
        return None
    notify_queued(conn, row[0], row[2], row[1], now)
    return row[0]
