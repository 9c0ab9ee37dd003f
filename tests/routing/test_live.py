"""The router inside a running engine: woken by NOTIFY, it offers within moments, and pushes
the live events other nodes and the inbox listen to."""

from __future__ import annotations

import json
import time

import psycopg

from cic_engine.config import CicConfig
from cic_engine.engine import Engine
from cic_engine.models import Channel, InboundContact
from cic_engine.routing.events import EVENTS_CHANNEL, parse
from cic_engine.routing.router import Router
from cic_engine.routing.service import Routing
from tests.core.test_run import get_health, start, stop, write_config


def _events_until(conn, wanted: str, timeout: float) -> list:
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for note in conn.notifies(timeout=deadline - time.monotonic(), stop_after=1):
            event = parse(note.payload)
            seen.append(event)
            if event and event.event == wanted:
                return seen
    raise AssertionError(f"no {wanted} within {timeout}s; saw {[e.event for e in seen if e]}")


def test_running_engine_offers_a_new_chat_to_the_agent_who_logs_in(tmp_path, db_url, store):
    config, port = write_config(tmp_path, f'url = "{db_url}"')
    proc = start(config)
    try:
        cic = CicConfig.model_validate({"queues": [{"name": "general"}],
                                        "agents": [{"login": "alice", "name": "Alice", "queues": ["general"]}]})
        routing = Routing(Router(store, cic))
        with psycopg.connect(db_url, autocommit=True) as listen:
            listen.execute(f"LISTEN {EVENTS_CHANNEL}")
            alice = routing.agent_id("alice")
            routing.set_available(alice)
            result = Engine(store, cic).ingest(InboundContact(
                channel=Channel.chat, endpoint="web", external_id="live-1", sender="visitor-42"))
            started = time.monotonic()
            events = _events_until(listen, "interaction.offered", timeout=10)
            latency = time.monotonic() - started
        offered = events[-1]
        assert (offered.interaction_id, offered.agent_id) == (result.interaction_id, alice)
        kinds = [e.event for e in events]
        assert kinds.index("agent.state") < kinds.index("interaction.queued") < kinds.index("interaction.offered")
        assert latency < 5, "woken by NOTIFY, not by a slow poll"
        status, body = get_health(port)
        assert status == 200 and body["router"]["running"] and body["router"]["passes"] > 0
        json.dumps(body)

        # The database drops every connection of the engine; routing resumes on its own.
        with psycopg.connect(db_url, autocommit=True) as conn:
            killed = conn.execute(
                """SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                   WHERE application_name LIKE 'cic-%' AND pid <> pg_backend_pid()""").fetchone()[0]
        assert killed >= 2
        with psycopg.connect(db_url, autocommit=True) as listen:
            listen.execute(f"LISTEN {EVENTS_CHANNEL}")
            second = Engine(store, cic).ingest(InboundContact(
                channel=Channel.chat, endpoint="web", external_id="live-2", sender="visitor-43"))
            offered = _events_until(listen, "interaction.offered", timeout=20)[-1]
        assert (offered.interaction_id, offered.agent_id) == (second.interaction_id, alice)
    finally:
        assert stop(proc) == 0
