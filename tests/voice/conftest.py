"""Voice tests run against the event-socket simulator."""

from __future__ import annotations

import textwrap

import gevent
import pytest

from cic_engine.config import CicConfig
from cic_engine.routing.router import Router
from cic_engine.routing.service import Routing
from tests.core.test_run import engine_toml, free_port, print_engine_log, start, stop
from tests.fakeswitch.switch import FakeSwitch


@pytest.fixture
def switch():
    """A simulated FreeSWITCH: its inbound event socket, and calls for the engine's outbound socket."""
    s = FakeSwitch().start()
    yield s
    s.stop()


CIC = {"queues": [{"name": "general", "offer_timeout_s": 60, "wrap_up_s": 10}],
       "agents": [{"login": "alice", "name": "Alice", "queues": ["general"]},
                  {"login": "bob", "name": "Bob", "queues": ["general"]}]}


@pytest.fixture
def engine(start_engine):
    return start_engine("")


@pytest.fixture
def start_engine(tmp_path, db_url, switch):
    started = []

    def start_with(adapter_extra: str, general_queue_extra: str = "", outbound: int | None = None):
        started.append(start_voice_engine(tmp_path, db_url, switch, adapter_extra, general_queue_extra, outbound))
        return started[-1]
    yield start_with
    for engine in started:
        if engine["proc"].poll() is None:  # not one a test killed
            assert stop(engine["proc"]) == 0
    print_engine_log(tmp_path)


def voice_cic_toml(node: str, db_url: str, web: int, general_queue_extra: str = "") -> str:
    """cic.toml of a voice test: the general queue (with `general_queue_extra`), alice and bob."""
    return engine_toml(node, db_url, web) + textwrap.dedent("""\
        [[queues]]
        name = "general"
        offer_timeout_s = 60
        wrap_up_s = 10
        """) + textwrap.dedent(general_queue_extra) + textwrap.dedent("""        [[agents]]
        login = "alice"
        name = "Alice"
        queues = ["general"]
        [[agents]]
        login = "bob"
        name = "Bob"
        queues = ["general"]
        """)


def start_voice_engine(tmp_path, db_url, switch, adapter_extra: str, general_queue_extra: str,
                       outbound: int | None = None):
    """An engine with a voice adapter on the simulator; `outbound`: its call socket's port (the
    one the dialplan hands calls to: an engine restarted on the same host keeps it)."""
    web, outbound = free_port(), outbound or free_port()
    (tmp_path / "channels").mkdir(exist_ok=True)
    (tmp_path / "cic.toml").write_text(voice_cic_toml("voice-node", db_url, web, general_queue_extra))
    (tmp_path / "channels" / "pbx.toml").write_text(textwrap.dedent(f"""\
        kind = "voice"
        outbound_bind = "127.0.0.1:{outbound}"
        esl_port = {switch.port}
        ring_s = 5
        """) + textwrap.dedent(adapter_extra))
    proc = start(tmp_path / "cic.toml", log=tmp_path / "engine.log")
    return {"proc": proc, "web": web, "outbound": ("127.0.0.1", outbound)}


@pytest.fixture
def routing(store):
    return Routing(Router(store, CicConfig.model_validate(CIC)))


def wait_for(condition, timeout: float = 15.0, what: str = "condition"):
    with gevent.Timeout(timeout, AssertionError(f"{what} not met within {timeout}s")):
        while not (result := condition()):
            gevent.sleep(0.02)
    return result


def interaction(store, call_uuid: str) -> dict | None:
    with store.transaction() as conn:
        cur = conn.execute(
            """SELECT i.*, a.login FROM messages m JOIN interactions i ON i.id = m.interaction_id
               LEFT JOIN agents a ON a.id = i.assigned_agent_id WHERE m.channel = 'voice' AND m.external_id = %s""",
            (call_uuid,))
        row = cur.fetchone()
        return dict(zip([d.name for d in cur.description], row, strict=True)) if row else None


def kinds(store, interaction_id: int) -> list[str]:
    with store.transaction() as conn:
        return [r[0] for r in conn.execute(
            "SELECT kind FROM timeline_events WHERE interaction_id = %s ORDER BY id", (interaction_id,)).fetchall()]
