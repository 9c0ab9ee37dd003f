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
    email: str | None  # what the customer says their address is
    ended: bool
    email_verified: bool = False  # proved by a mailed code, or vouched for by the host site
    language: str | None = None  # the widget's language (en, zh-CN)


def by_key(conn: Conn, key: str) -> ChatSession | None:
    row = conn.execute(
        """SELECT key, adapter, name, email, ended_at IS NOT NULL, email_verified, language FROM chat_sessions
           WHERE key = %s""", (key,)).fetchone()
    return ChatSession(*row) if row else None


def create(conn: Conn, token_hash: bytes, key: str, adapter: str, name: str, email: str | None, now: datetime,
           site_user: str | None = None, language: str | None = None) -> None:
    """A new chat; with `site_user` the host site vouched for the visitor and their email."""
    conn.execute(
        """INSERT INTO chat_sessions (token_hash, key, adapter, name, email, created_at, email_verified, verified_by,
                                      site_user, language)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
        (token_hash, key, adapter, name, email, now, site_user is not None, "site" if site_user else None, site_user,
         language))


def get(conn: Conn, token_hash: bytes, adapter: str) -> ChatSession | None:
    row = conn.execute(
        """SELECT key, adapter, name, email, ended_at IS NOT NULL, email_verified, language FROM chat_sessions
           WHERE token_hash = %s AND adapter = %s""", (token_hash, adapter)).fetchone()
    return ChatSession(*row) if row else None


def set_code(conn: Conn, key: str, code_hash: bytes, expires_at: datetime, most: int) -> bool:
    """A new code for the claimed address; False when `most` were sent for this chat already."""
    return conn.execute(
        """UPDATE chat_sessions SET code_hash = %s, code_expires_at = %s, codes_sent = codes_sent + 1, code_tries = 0
           WHERE key = %s AND codes_sent < %s AND NOT email_verified""", (code_hash, expires_at, key, most)).rowcount == 1


def try_code(conn: Conn, key: str, code_hash: bytes, now: datetime, most_tries: int) -> str:
    """'verified', 'wrong', 'expired' (or none sent) or 'locked' (too many wrong tries)."""
    row = conn.execute(
        """UPDATE chat_sessions SET code_tries = code_tries + 1 WHERE key = %s AND NOT email_verified
           RETURNING code_hash, code_expires_at, code_tries""", (key,)).fetchone()
    if row is None:
        return "verified"  # verified before
    stored, expires_at, tries = row
    if tries > most_tries:
        return "locked"
    if stored is None or expires_at is None or expires_at < now:
        return "expired"
    if bytes(stored) != code_hash:
        return "wrong"
    conn.execute("""UPDATE chat_sessions SET email_verified = true, verified_by = 'code', code_hash = NULL
                    WHERE key = %s""", (key,))
    return "verified"


def end(conn: Conn, key: str, now: datetime) -> None:
    conn.execute("UPDATE chat_sessions SET ended_at = %s WHERE key = %s AND ended_at IS NULL", (now, key))


def interactions(conn: Conn, key: str) -> list[int]:
    """The chat's interactions, oldest first (a chat that was closed and written to again has two)."""
    return [r[0] for r in conn.execute(
        "SELECT id FROM interactions WHERE channel = 'chat' AND conversation_key = %s ORDER BY id", (key,)).fetchall()]


def messages_after(conn: Conn, key: str, after_id: int) -> list[tuple]:
    """(id, direction, text, created_at, agent name, sender name, external id, kind, files) of
    the chat's messages after one id (kind: reply, survey... for what we sent)."""
    return conn.execute(
        """SELECT m.id, m.direction,
                  COALESCE((SELECT body FROM message_parts p WHERE p.message_id = m.id ORDER BY seq LIMIT 1), ''),
                  m.created_at, a.name, m.sender_name, m.external_id, m.metadata ->> 'kind',
                  COALESCE((SELECT jsonb_agg(jsonb_build_object('id', f.id, 'filename', f.filename,
                                                                'content_type', f.content_type, 'size', f.size)
                                             ORDER BY f.seq)
                            FROM attachments f WHERE f.message_id = m.id), '[]')
           FROM interactions i JOIN messages m ON m.interaction_id = i.id
           LEFT JOIN outbox o ON o.id = (m.metadata ->> 'outbox_id')::bigint
           LEFT JOIN agents a ON a.id = (o.payload ->> 'agent_id')::bigint
           WHERE i.channel = 'chat' AND i.conversation_key = %s AND m.id > %s
           ORDER BY m.id""", (key, after_id)).fetchall()


def file(conn: Conn, key: str, attachment_id: int) -> tuple[str, str, bytes] | None:
    """(filename, content type, content) of a file in this chat's conversation, or None."""
    row = conn.execute(
        """SELECT f.filename, f.content_type, f.content FROM attachments f
           JOIN messages m ON m.id = f.message_id JOIN interactions i ON i.id = m.interaction_id
           WHERE f.id = %s AND i.channel = 'chat' AND i.conversation_key = %s""", (attachment_id, key)).fetchone()
    return (row[0], row[1], bytes(row[2])) if row else None


def agent_name(conn: Conn, agent_id: int) -> str | None:
    row = conn.execute("SELECT name FROM agents WHERE id = %s", (agent_id,)).fetchone()
    return row[0] if row else None
