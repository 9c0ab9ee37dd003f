"""Tickets for calls from the chat widget (0017_web_calls.sql)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from . import Conn


@dataclass(frozen=True)
class WebCall:
    chat_key: str
    adapter: str
    queue: str | None
    name: str
    email: str | None
    email_verified: bool
    language: str | None


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def issue(conn: Conn, token: str, chat_key: str, adapter: str, queue: str | None, address: str, now: datetime,
          expires_at: datetime) -> None:
    conn.execute(
        """INSERT INTO web_call_tickets (token_hash, chat_key, adapter, queue, address, created_at, expires_at)
           VALUES (%s, %s, %s, %s, %s, %s, %s)""", (token_hash(token), chat_key, adapter, queue, address, now, expires_at))


def issued(conn: Conn, chat_key: str) -> int:
    """How many calls the chat has asked for."""
    return conn.execute("SELECT count(*) FROM web_call_tickets WHERE chat_key = %s", (chat_key,)).fetchone()[0]


def take(conn: Conn, token: str, call_uuid: str, now: datetime) -> WebCall | None:
    """The ticket's chat, once: a used, expired or unknown token takes nothing. The same call
    coming back (its engine restarted) finds its own ticket again."""
    row = conn.execute(
        """UPDATE web_call_tickets t SET used_at = %(now)s, call_uuid = %(call)s
           FROM chat_sessions s
           WHERE t.token_hash = %(hash)s AND s.key = t.chat_key
             AND ((t.used_at IS NULL AND t.expires_at > %(now)s) OR t.call_uuid = %(call)s)
           RETURNING t.chat_key, t.adapter, t.queue, s.name, s.email, s.email_verified, s.language""",
        {"now": now, "call": call_uuid, "hash": token_hash(token)}).fetchone()
    return WebCall(*row) if row else None
