"""Web logins: agents' password hashes and their browser sessions (only token hashes stored)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from . import Conn


@dataclass(frozen=True)
class Principal:
    """Who a request comes from, and what the roles and queue memberships let them see."""

    agent_id: int
    login: str
    name: str
    roles: frozenset[str]
    queue_ids: frozenset[int]
    department_id: int | None = None  # a department user's department

    @property
    def supervises(self) -> bool:
        return bool(self.roles & {"supervisor", "admin"})


def password_hash(conn: Conn, login: str) -> tuple[int, str | None] | None:
    row = conn.execute("SELECT id, password_hash FROM agents WHERE login = %s", (login,)).fetchone()
    return (row[0], row[1]) if row else None


def set_password_hash(conn: Conn, login: str, hashed: str | None) -> bool:
    return conn.execute("UPDATE agents SET password_hash = %s WHERE login = %s", (hashed, login)).rowcount == 1


def create(conn: Conn, token_hash: bytes, agent_id: int, now: datetime, expires_at: datetime,
           user_agent: str | None) -> None:
    conn.execute("DELETE FROM web_sessions WHERE expires_at < %s", (now,))
    conn.execute(
        "INSERT INTO web_sessions (token_hash, agent_id, created_at, expires_at, user_agent) VALUES (%s, %s, %s, %s, %s)",
        (token_hash, agent_id, now, expires_at, (user_agent or "")[:300]))


def principal(conn: Conn, token_hash: bytes, now: datetime) -> Principal | None:
    row = conn.execute(
        """SELECT a.id, a.login, a.name, a.roles,
                  ARRAY(SELECT queue_id FROM agent_queues WHERE agent_id = a.id), a.department_id
           FROM web_sessions s JOIN agents a ON a.id = s.agent_id
           WHERE s.token_hash = %s AND s.expires_at > %s""", (token_hash, now)).fetchone()
    if row is None:
        return None
    return Principal(agent_id=row[0], login=row[1], name=row[2], roles=frozenset(row[3]), queue_ids=frozenset(row[4]),
                     department_id=row[5])


def end(conn: Conn, token_hash: bytes, now: datetime) -> int | None:
    """End one session; the agent's id when it was their last live one (they have left)."""
    row = conn.execute(
        """WITH gone AS (DELETE FROM web_sessions WHERE token_hash = %(t)s RETURNING agent_id)
           SELECT g.agent_id FROM gone g
           WHERE NOT EXISTS (SELECT FROM web_sessions s WHERE s.agent_id = g.agent_id AND s.token_hash <> %(t)s
                             AND s.expires_at > %(now)s)""", {"t": token_hash, "now": now}).fetchone()
    return row[0] if row else None


def end_all(conn: Conn, agent_id: int) -> None:
    conn.execute("DELETE FROM web_sessions WHERE agent_id = %s", (agent_id,))
