"""A routing desk on a real PostgreSQL with a manual clock: ingest contacts, run router passes,
act as agents and supervisors, and read back what a user would see."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

from cic_engine.config import CicConfig
from cic_engine.engine import Engine
from cic_engine.models import Channel, InboundContact
from cic_engine.routing.router import Router
from cic_engine.routing.service import Routing

_ids = itertools.count(1)
SENDERS = {Channel.voice: "+86 138 0013 {:04d}", Channel.sms: "+86 139 0013 {:04d}", Channel.fax: "+86 10 6552 {:04d}",
           Channel.email: "customer{}@example.com", Channel.chat: "visitor-{}"}


class Desk:
    def __init__(self, store, clock, cic: CicConfig):
        self.store, self.clock, self.cic = store, clock, cic
        self.engine = Engine(store, cic, clock)
        self.engine.load_directory()
        self.router = Router(store, cic, clock)
        self.router.load_queues()
        self.routing = Routing(self.router)

    def contact(self, channel: str = "email", customer: int | None = None, **fields: Any) -> int:
        channel = Channel(channel)
        n = next(_ids)
        sender = SENDERS[channel].format(customer if customer is not None else n)
        contact = InboundContact(channel=channel, endpoint=f"{channel}-in", external_id=f"ext-{n}", sender=sender,
                                 **fields)
        return self.engine.ingest(contact).interaction_id

    def route(self):
        return self.router.route()

    def agent(self, login: str) -> int:
        return self.routing.agent_id(login)

    def available(self, *logins: str) -> None:
        for login in logins:
            self.routing.set_available(self.agent(login))

    def row(self, interaction_id: int) -> dict[str, Any]:
        with self.store.transaction() as conn:
            cur = conn.execute("SELECT * FROM interactions WHERE id = %s", (interaction_id,))
            names = [d.name for d in cur.description]
            return dict(zip(names, cur.fetchone(), strict=True))

    def state(self, interaction_id: int) -> str:
        return self.row(interaction_id)["state"]

    def offered_to(self, interaction_id: int) -> list[str]:
        with self.store.transaction() as conn:
            rows = conn.execute(
                """SELECT a.login FROM interactions i JOIN agents a ON a.id = ANY(i.offered_to)
                   WHERE i.id = %s AND i.state = 'offered' ORDER BY a.login""", (interaction_id,)).fetchall()
        return [r[0] for r in rows]

    def offers(self) -> dict[int, list[str]]:
        with self.store.transaction() as conn:
            rows = conn.execute(
                """SELECT i.id, array_agg(a.login ORDER BY a.login) FROM interactions i
                   JOIN agents a ON a.id = ANY(i.offered_to) WHERE i.state = 'offered' GROUP BY i.id""").fetchall()
        return {r[0]: list(r[1]) for r in rows}

    def kinds(self, interaction_id: int) -> list[str]:
        with self.store.transaction() as conn:
            rows = conn.execute("SELECT kind FROM timeline_events WHERE interaction_id = %s ORDER BY id",
                                (interaction_id,)).fetchall()
        return [r[0] for r in rows]

    def events(self, interaction_id: int, kind: str) -> list[dict]:
        with self.store.transaction() as conn:
            rows = conn.execute("SELECT data FROM timeline_events WHERE interaction_id = %s AND kind = %s ORDER BY id",
                                (interaction_id, kind)).fetchall()
        return [r[0] for r in rows]

    def agent_states(self, login: str) -> list[tuple[str, str | None]]:
        with self.store.transaction() as conn:
            rows = conn.execute(
                """SELECT data->>'to', data->>'reason' FROM timeline_events
                   WHERE kind = 'agent_state' AND agent_id = (SELECT id FROM agents WHERE login = %s) ORDER BY id""",
                (login,)).fetchall()
        return [(r[0], r[1]) for r in rows]

    def handling(self, channel: str, login: str, **fields: Any) -> int:
        """A new contact the agent (now available) has been offered and accepted."""
        item = self.contact(channel, **fields)
        self.available(login)
        self.route()
        self.routing.accept(item, self.agent(login))
        return item

    def accept_all(self) -> None:
        for interaction_id, logins in self.offers().items():
            self.routing.accept(interaction_id, self.agent(logins[0]))


def config(**overrides: Any) -> CicConfig:
    base: dict[str, Any] = {
        "engine": {"phone_region": "CN", "default_queue": "general"},
        "queues": [{"name": "general"}],
        "agents": [],
    }
    base.update(overrides)
    return CicConfig.model_validate(base)


def agents(*logins: str, **fields: Any) -> list[dict[str, Any]]:
    return [{"login": login, "name": login.title(), "queues": ["general"], **fields} for login in logins]


@pytest.fixture
def make_desk(store, clock) -> Callable[..., Desk]:
    def make(**overrides: Any) -> Desk:
        return Desk(store, clock, config(**overrides))
    return make
