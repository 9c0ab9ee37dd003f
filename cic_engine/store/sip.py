"""The softphone's short-lived SIP credentials (0015_sip_credentials.sql, 0016_agent_phones.sql)
and whose phones a switch has registered."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from . import Conn
from .interactions import wake_routers


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


def valid(conn: Conn, username: str, domain: str, now: datetime) -> list[SipUser]:
    """The user's credentials that still authenticate, newest first."""
    rows = conn.execute(
        """SELECT c.username, c.agent_id, a.login, c.a1_hash FROM sip_credentials c JOIN agents a ON a.id = c.agent_id
           WHERE c.username = %s AND c.domain = %s AND c.expires_at > %s ORDER BY c.id DESC""",
        (username, domain, now)).fetchall()
    return [SipUser(*row) for row in rows]


def revoke(conn: Conn, agent_id: int) -> None:
    """The agent logged out: their browser's credentials authenticate nothing more."""
    conn.execute("DELETE FROM sip_credentials WHERE agent_id = %s", (agent_id,))


def track_switch(conn: Conn, switch: str, tracked: bool) -> None:
    """Whether the switch's registrations decide who can be offered calls."""
    if tracked:
        conn.execute("INSERT INTO phone_switches (switch) VALUES (%s) ON CONFLICT DO NOTHING", (switch,))
    else:
        conn.execute("DELETE FROM phone_switches WHERE switch = %s", (switch,))


def set_registered(conn: Conn, switch: str, logins: Iterable[str], now: datetime) -> tuple[set[str], set[str]]:
    """Replace what the switch has registered; (logins that came, logins that went). An agent
    whose phone came may have waiting calls: the routers are woken."""
    logins = set(logins)
    track_switch(conn, switch, True)
    before = {r[0] for r in conn.execute(
        "SELECT login FROM phone_registrations WHERE switch = %s FOR UPDATE", (switch,)).fetchall()}
    came, went = logins - before, before - logins
    if went:
        conn.execute("DELETE FROM phone_registrations WHERE switch = %s AND login = ANY(%s)", (switch, list(went)))
    if came:
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO phone_registrations (switch, login, seen_at) VALUES (%s, %s, %s)",
                            [(switch, login, now) for login in sorted(came)])
        wake_routers(conn, "phones:" + switch)
    return came, went
