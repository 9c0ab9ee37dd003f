"""Web chat sessions: the token a customer's widget holds, and the conversation it opens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from . import Conn


@dataclass(frozen=True)
class ChatSession:
    key: str
    adapter: str
    name: str
    email: str | None
    ended: bool


def create(conn: Conn, token_hash: bytes, key: str, adapter: str, name: str, email: str | None, now: datetime) -> None:
    conn.execute(
        """INSERT INTO chat_sessions (token_hash, key, adapter, name, email, created_at)
           VALUES (%s, %s, %s, %s, %s, %s)""", (token_hash, key, adapter, name, email, now))


def get(conn: Conn, token_hash: bytes, adapter: str) -> ChatSession | None:
    row = conn.execute(
        "SELECT key, adapter, name, email, ended_at IS NOT NULL FROM chat_sessions WHERE token_hash = %s AND adapter = %s",
        (token_hash, adapter)).fetchone()
    return ChatSession(*row) if row else None


def end(conn: Conn, key: str, now: datetime) -> None:
    conn.execute("UPDATE chat_sessions SET ended_at = %s WHERE key = %s AND ended_at IS NULL", (now, key))


def interactions(conn: Conn, key: str) -> list[int]:
    """The chat's interactions, oldest first (a chat that was closed and written to again has two)."""
    return [r[0] for r in conn.execute(
        "SELECT id FROM interactions WHERE channel = 'chat' AND conversation_key = %s ORDER BY id", (key,)).fetchall()]


def messages_after(conn: Conn, key: str, after_id: int) -> list[tuple]:
    """(id, direction, text, created_at, agent name, sender name, external id, kind) of the
    chat's messages after one id (kind: reply, survey... for what we sent)."""
    return conn.execute(
        """SELECT m.id, m.direction,
                  COALESCE((SELECT body FROM message_parts p WHERE p.message_id = m.id ORDER BY seq LIMIT 1), ''),
                  m.created_at, a.name, m.sender_name, m.external_id, m.metadata ->> 'kind'
           FROM interactions i JOIN messages m ON m.interaction_id = i.id
           LEFT JOIN outbox o ON o.id = (m.metadata ->> 'outbox_id')::bigint
           LEFT JOIN agents a ON a.id = (o.payload ->> 'agent_id')::bigint
           WHERE i.channel = 'chat' AND i.conversation_key = %s AND m.id > %s
           ORDER BY m.id""", (key, after_id)).fetchall()


def agent_name(conn: Conn, agent_id: int) -> str | None:
    row = conn.execute("SELECT name FROM agents WHERE id = %s", (agent_id,)).fetchone()
    return row[0] if row else None
