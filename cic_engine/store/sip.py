"""The softphone's short-lived SIP credentials (schemas/sql/0015_sip_credentials.sql)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from . import Conn


@dataclass(frozen=True)
class SipUser:
    username: str
    agent_id: int
    login: str
    a1_hash: str


def issue(conn: Conn, username: str, agent_id: int, domain: str, a1_hash: str, now: datetime,
          expires_at: datetime) -> None:
    """A new credential for the agent's browser; the agent's expired ones go."""
    conn.execute("DELETE FROM sip_credentials WHERE agent_id = %s AND expires_at < %s", (agent_id, now))
    conn.execute(
        """INSERT INTO sip_credentials (username, agent_id, domain, a1_hash, created_at, expires_at)
           VALUES (%s, %s, %s, %s, %s, %s)""", (username, agent_id, domain, a1_hash, now, expires_at))


def find(conn: Conn, username: str, domain: str, now: datetime) -> SipUser | None:
    """The user the switch asks about, while its credential is valid."""
    row = conn.execute(
        """SELECT c.username, c.agent_id, a.login, c.a1_hash FROM sip_credentials c JOIN agents a ON a.id = c.agent_id
           WHERE c.username = %s AND c.domain = %s AND c.expires_at > %s""", (username, domain, now)).fetchone()
    return SipUser(*row) if row else None


def revoke(conn: Conn, agent_id: int) -> None:
    """The agent logged out: their browser's credentials authenticate nothing more."""
    conn.execute("DELETE FROM sip_credentials WHERE agent_id = %s", (agent_id,))
