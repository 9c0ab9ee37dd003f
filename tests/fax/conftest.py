"""Fax tests run a real engine with the web inbox (tests/web's fixtures) and the fax adapter on
the simulated switch."""

from __future__ import annotations

import textwrap

import pytest

from tests.fakeswitch.switch import FakeSwitch
from tests.voice.conftest import wait_for
from tests.web.conftest import start_web  # noqa: F401 - the fixture, shared

CUSTOMER = "+862155550100"
LINE = "+861065520001"


@pytest.fixture
def switch():
    s = FakeSwitch().start()
    s.ring_s = 0.02
    yield s
    s.stop()


@pytest.fixture
def spool(tmp_path):
    (tmp_path / "spool").mkdir()
    (tmp_path / "out").mkdir()
    return tmp_path / "spool"


def fax_toml(switch, tmp_path, extra: str = "") -> str:
    return textwrap.dedent(f"""\
        kind = "fax"
        esl_port = {switch.port}
        queue = "general"
        numbers = ["{LINE}"]
        spool_dir = "{tmp_path / 'spool'}"
        outbound_dir = "{tmp_path / 'out'}"
        dial = "sofia/gateway/pstn/{{number}}"
        station_id = "+86 10 6552 0001"
        header = "Example Ltd support"
        attempts = 2
        retry_delay_s = 0.5
        sweep_every_s = 0.3
        sweep_after_s = 1
        """) + textwrap.dedent(extra)


@pytest.fixture
def fax_engine(start_web, switch, tmp_path, spool):  # noqa: F811 - start_web is the imported fixture
    def started(extra: str = ""):
        web = start_web(channels={"fax": fax_toml(switch, tmp_path, extra)}, cic_extra="[outbox]\nbackoff_s = 0.3\n")
        wait_for(lambda: any(s.authed and s.format for s in switch.sessions), what="the fax adapter subscribed")
        return web
    return started


