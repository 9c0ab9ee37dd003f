"""The engine against a real FreeSWITCH: one switch per pytest worker (tests/realswitch/
freeswitch.py), a `cic-engine run` per test whose voice adapter is the shipped dialplan's
outbound socket, customers calling in over loopback (or SIPp where a real SIP leg matters), and
agent phones whose behaviour each test chooses."""

from __future__ import annotations

import textwrap
import uuid as uuidlib

import pytest

from cic_engine.config import CicConfig
from cic_engine.routing.router import Router
from cic_engine.routing.service import Routing
from tests import real_parts
from tests.core.test_run import free_port, print_engine_log, start, stop
from tests.realswitch.freeswitch import MOH, RealSwitch, unavailable_reason
from tests.voice.conftest import voice_cic_toml, wait_for

DID = "+861065521000"  # a voice number: the shipped 00_cic.xml takes it
FAX_DID = "+861065520123"  # a fax number: the shipped 10_cic_fax.xml takes it

CIC = {"queues": [{"name": "general", "offer_timeout_s": 60, "wrap_up_s": 10}],
       "agents": [{"login": "alice", "name": "Alice", "queues": ["general"]},
                  {"login": "bob", "name": "Bob", "queues": ["general"]}]}


@pytest.fixture(scope="session")
def freeswitch_process(tmp_path_factory):
    reason = unavailable_reason()
    if reason:
        real_parts.missing(reason)
    switch = RealSwitch(tmp_path_factory.mktemp("freeswitch")).configure().start()
    yield switch
    switch.stop()


@pytest.fixture
def fs(freeswitch_process):
    """The worker's switch, running, with no call left from an earlier test."""
    if not freeswitch_process.alive():
        freeswitch_process.start()  # a test stopped it
    yield freeswitch_process
    if freeswitch_process.alive():
        freeswitch_process.hangup_all()
        for login in ("alice", "bob", "carol"):
            freeswitch_process.phone(login, "answer")


@pytest.fixture
def routing(store):
    return Routing(Router(store, CicConfig.model_validate(CIC)))


@pytest.fixture
def start_engine(tmp_path, db_url, fs):
    started = []

    def start_with(adapter_extra: str = "", general_queue_extra: str = "", node: str = "voice-node"):
        started.append(start_real_engine(tmp_path, db_url, fs, adapter_extra, general_queue_extra, node))
        return started[-1]
    yield start_with
    for engine in started:
        if engine["proc"].poll() is None:  # not one a test killed
            assert stop(engine["proc"]) == 0
    print_engine_log(tmp_path)


@pytest.fixture
def engine(start_engine):
    return start_engine()


def start_real_engine(tmp_path, db_url, fs: RealSwitch, adapter_extra: str, general_queue_extra: str,
                      node: str = "voice-node", outbound_port: int | None = None) -> dict:
    web = free_port()
    (tmp_path / "channels").mkdir(exist_ok=True)
    (tmp_path / "cic.toml").write_text(voice_cic_toml(node, db_url, web, general_queue_extra))
    (tmp_path / "channels" / "pbx.toml").write_text(voice_channel(fs, outbound_port, textwrap.dedent(adapter_extra)))
    proc = start(tmp_path / "cic.toml", log=tmp_path / "engine.log")
    return {"proc": proc, "web": web, "config": tmp_path / "cic.toml"}


def voice_channel(fs: RealSwitch, outbound_port: int | None = None, extra: str = "") -> str:
    """The voice adapter file for the worker's switch; `extra`'s top-level keys replace ours."""
    head = extra.split("\n[", 1)[0]
    replaced = {line.split("=", 1)[0].strip() for line in head.splitlines() if "=" in line}
    ours = textwrap.dedent(f"""\
        kind = "voice"
        outbound_bind = "127.0.0.1:{outbound_port or fs.engine_port}"
        esl_port = {fs.esl_port}
        esl_password = "cic-test-esl"
        agent_endpoint = "loopback/agent_{{login}}/public/XML"
        moh = "{MOH}"
        recordings = "{fs.recordings}"
        ring_s = 5
        """)
    return "".join(line + "\n" for line in ours.splitlines() if line.split("=", 1)[0].strip() not in replaced) + extra


class Caller:
    """A customer's phone: a loopback call into the public context, as a call from a carrier
    would arrive. `leg` is the customer's side; `uuid` the channel the dialplan hands to the
    engine (what the engine stores as the call)."""

    def __init__(self, fs: RealSwitch, number: str, did: str = DID, name: str = "Caller"):
        self.fs = fs
        self.number = number
        self.leg = str(uuidlib.uuid4())
        fs.api(f"bgapi originate {{origination_uuid={self.leg},origination_caller_id_number={number},"
               f"origination_caller_id_name='{name}',ignore_early_media=true,"
               # PCMU, as a call from the telephone network (loopback's own default is L16, which
               # a bridge then offers to a SIP phone as the only codec)
               f"loopback_initial_codec=PCMU}}loopback/{did}/public &park()")
        self.uuid = wait_for(lambda: fs.var(self.leg, "other_loopback_leg_uuid"), what="the call reached the switch")

    def press(self, digits: str) -> None:
        self.fs.api(f"uuid_send_dtmf {self.leg} {digits}")

    def hang_up(self) -> None:
        self.fs.api(f"uuid_kill {self.leg} NORMAL_CLEARING")

    def up(self) -> bool:
        return self.fs.exists(self.uuid)

    def application(self) -> str:
        return self.fs.channel(self.uuid).get("application", "")

    def application_data(self) -> str:
        return self.fs.channel(self.uuid).get("application_data", "")

    def bridged_to(self) -> str:
        """The agent login of the leg the caller talks to ('' when not bridged to an agent)."""
        partner = self.fs.var(self.uuid, "bridge_to")  # set while bridged, cleared after
        if not partner or not self.fs.exists(partner):
            return ""
        if login := self.fs.var(partner, "cic_agent"):  # a leg the engine bridged to
            return login
        name = self.fs.channel(partner).get("name", "")  # an originated leg
        return name.removeprefix("loopback/agent_").removesuffix("-a") if name.startswith("loopback/agent_") else ""


def agent_hangs_up(fs: RealSwitch, login: str) -> None:
    """The agent puts the phone down: every leg ringing or talking to that agent ends."""
    fs.api(f"hupall NORMAL_CLEARING cic_agent {login}")
