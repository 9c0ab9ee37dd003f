"""Campaign tests end to end: a real `cic-engine run` with its voice adapter on the ESL
simulator (and the SMPP and SMTP test servers for message campaigns), driven through the HTTP
API as a supervisor and agents would."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import gevent
import pytest

from tests.channel_files import voice_toml
from tests.core.test_run import engine_toml, free_port, print_engine_log, start, stop
from tests.fakeswitch.switch import FakeSwitch
from tests.web.conftest import HASH, Api

AGENTS = ("alice", "bob", "carol")


def outbound_config(tmp_path: Path, db_url: str, port: int, channels: dict[str, str], agents: int = 3,
                    extra: str = "", wrap_up_s: int = 300) -> Path:
    (tmp_path / "channels").mkdir(exist_ok=True)
    for name, text in channels.items():
        (tmp_path / "channels" / f"{name}.toml").write_text(text)
    people = "".join(textwrap.dedent(f"""\
        [[agents]]
        login = "{login}"
        name = "{login.title()}"
        queues = ["sales", "general"]
        password_hash = "{HASH}"
        """) for login in ([*AGENTS, *(f"agent{n}" for n in range(len(AGENTS), agents))][:agents]))
    config = tmp_path / "cic.toml"
    config.write_text(engine_toml("outbound-node", db_url, port) + textwrap.dedent(f"""\
        [outbound]
        quiet_start = "00:00"
        quiet_end = "00:00"
        tick_s = 0.1
        [inbox]
        dispositions = ["sale", "not-interested", "answering-machine", "call-back-later"]
        [[queues]]
        name = "general"
        [[queues]]
        name = "sales"
        channels = ["voice", "sms", "email"]
        offer_timeout_s = 30
        wrap_up_s = {wrap_up_s}
        """) + people + textwrap.dedent(f"""\
        [[agents]]
        login = "sue"
        name = "Sue Visor"
        roles = ["supervisor"]
        queues = ["sales"]
        password_hash = "{HASH}"
        """) + extra)
    return config


class Client:
    """An agent's or supervisor's API, called from gevent's thread pool: the simulated switch
    runs on the test's hub and must keep serving while a request waits on it."""

    def __init__(self, api: Api):
        self.api = api

    def call(self, *args, **kwargs) -> tuple[int, dict]:
        return gevent.get_hub().threadpool.apply(self.api.call, args, kwargs)


class OutboundEngine:
    def __init__(self, tmp_path: Path, db_url: str):
        self.tmp_path = tmp_path
        self.db_url = db_url
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = None

    def start(self, channels: dict[str, str], agents: int = 3, extra: str = "", wrap_up_s: int = 300) -> OutboundEngine:
        config = outbound_config(self.tmp_path, self.db_url, self.port, channels, agents, extra, wrap_up_s)
        self.proc = start(config, log=self.tmp_path / "engine.log")
        return self

    def api(self, login: str) -> Client:
        return Client(gevent.get_hub().threadpool.apply(Api(self.base).login, (login,)))

    def available(self, *logins: str) -> dict[str, Client]:
        agents = {}
        for login in logins:
            agents[login] = self.api(login)
            assert agents[login].call("POST", "/api/me/state", {"state": "available"})[0] == 200
        return agents

    def campaign(self, supervisor: Client, csv: str, **settings) -> int:
        status, made = supervisor.call("POST", "/api/campaigns", settings)
        assert status == 201, made
        status, imported = supervisor.call("POST", f"/api/campaigns/{made['id']}/contacts", content_type="text/csv",
                                           raw=csv.encode())
        assert status == 200 and imported["errors"] == [], imported
        return made["id"]


@pytest.fixture
def switch():
    s = FakeSwitch().start()
    yield s
    s.stop()


@pytest.fixture
def start_outbound(tmp_path, db_url):
    started: list[OutboundEngine] = []

    def start_with(channels: dict[str, str], **options) -> OutboundEngine:
        started.append(OutboundEngine(tmp_path, db_url).start(channels, **options))
        return started[-1]
    yield start_with
    for engine in started:
        if engine.proc.poll() is None:
            assert stop(engine.proc) == 0
    print_engine_log(tmp_path)


@pytest.fixture
def voice_engine(start_outbound, switch):
    def start_with(**options) -> OutboundEngine:
        return start_outbound({"pbx": voice_toml(free_port(), switch.port)}, **options)
    return start_with


def rows(store, sql: str, *args) -> list[tuple]:
    with store.transaction() as conn:
        return conn.execute(sql, args).fetchall()


def wait_rows(store, sql: str, *args, count: int = 1, timeout: float = 20.0) -> list[tuple]:
    deadline = time.monotonic() + timeout
    while True:
        found = rows(store, sql, *args)
        if len(found) >= count or time.monotonic() > deadline:
            assert len(found) >= count, f"{sql}: {found}"
            return found
        gevent.sleep(0.05)
