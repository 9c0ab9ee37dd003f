"""What the simulator (tests/fakeswitch) claims about FreeSWITCH, checked on the real switch
too: each test runs against both, through the same event socket and the same outbound socket
of the test's own. Every place where the simulator once differed from FreeSWITCH and real
callers were dropped has a check here, so it cannot drift again."""

from __future__ import annotations

import uuid as uuidlib

import gevent
import pytest
from gevent.queue import Queue
from gevent.server import StreamServer

from cic_engine.esl.connection import Endpoint, InboundConnection
from cic_engine.esl.outbound import CallGone, OutboundCall
from tests.core.test_run import free_port
from tests.fakeswitch.switch import FakeSwitch
from tests.realswitch.conftest import DID
from tests.realswitch.freeswitch import ESL_PASSWORD, MOH
from tests.voice.conftest import wait_for

pytestmark = pytest.mark.timeout(90)


class Simulated:
    name = "simulator"

    def __init__(self):
        self.switch = FakeSwitch().start()
        self.esl_port, self.password, self.socket_port = self.switch.port, "ClueCon", free_port()
        self.busy_endpoint = "loopback/agent_alice"
        self.switch.phones["agent_alice"] = "busy"

    def place_call(self) -> None:
        self.switch.call(("127.0.0.1", self.socket_port), "+8613800138500", destination=DID)

    def stop(self) -> None:
        self.switch.stop()


class Real:
    name = "freeswitch"

    def __init__(self, fs):
        self.fs = fs
        self.esl_port, self.password, self.socket_port = fs.esl_port, ESL_PASSWORD, fs.engine_port
        self.busy_endpoint = "loopback/agent_alice"
        fs.phone("alice", "busy")

    def place_call(self) -> None:
        self.fs.api(f"bgapi originate {{origination_caller_id_number=+8613800138500}}loopback/{DID}/public &park()")

    def stop(self) -> None:
        self.fs.phone("alice", "answer")
        self.fs.hangup_all()


@pytest.fixture(params=["simulator", "freeswitch"])
def switch(request):
    if request.param == "simulator":
        under_test = Simulated()
    else:
        under_test = Real(request.getfixturevalue("fs"))
    yield under_test
    under_test.stop()


@pytest.fixture
def esl(switch):
    """The event socket as the engine uses it, with the park events it listens to."""
    conn = InboundConnection(Endpoint("127.0.0.1", switch.esl_port, switch.password,
                                      events=("CHANNEL_PARK", "CHANNEL_HANGUP_COMPLETE")), name="parity ESL")
    conn.parks = Queue()
    conn.on_event.append(lambda e: e.name == "CHANNEL_PARK" and conn.parks.put(e))
    conn.start()
    assert conn.connected.wait(10)
    yield conn
    conn.stop()


class Sockets:
    """The test's outbound socket: calls the dialplan hands to it, each running `script`."""

    def __init__(self, switch):
        self.switch = switch
        self.handed: Queue = Queue()
        self.script = lambda call: None
        self.server = StreamServer(("127.0.0.1", switch.socket_port), self._accept)
        self.server.start()

    def _accept(self, sock, address) -> None:
        call = OutboundCall(sock, address)
        call.setup()
        self.handed.put(call)
        try:
            self.script(call)
        except CallGone:
            pass

    def place(self, script) -> OutboundCall:
        """A new call, as a carrier would send one; its channel once handed to us."""
        self.script = script
        self.switch.place_call()
        return self.handed.get(timeout=10)

    def next(self, script, trigger) -> OutboundCall:
        self.script = script
        trigger()
        return self.handed.get(timeout=10)


@pytest.fixture
def calls(switch):
    sockets = Sockets(switch)
    yield sockets
    sockets.server.stop()


def _park_of(esl, uuid: str, timeout: float = 10):
    while True:
        event = esl.parks.get(timeout=timeout)
        if event.uuid == uuid:
            return event


def _channel(esl, uuid: str) -> dict | None:
    import json

    rows = json.loads(esl.api("show channels as json")).get("rows") or []
    return next((c for c in rows if c["uuid"] == uuid), None)


def test_the_socket_application_parks_a_new_call_itself(switch, esl, calls):
    """CHANNEL_PARK with current_application=socket: a new call, not one to take back."""
    call = calls.place(lambda c: gevent.sleep(2))
    park = _park_of(esl, call.uuid)
    assert park.get("variable_current_application") == "socket"
    assert park.get("variable_cic_line") == "voice"  # the shipped dialplan's mark


def test_what_the_engine_started_plays_on_when_its_socket_closes_then_the_call_parks(switch, esl, calls):
    def music_then_gone(call):
        call.api(f"uuid_setvar {call.uuid} playback_timeout_sec 3")  # what moh_piece_s sets
        call.run("answer")
        call.start("playback", MOH).started.wait(5)
        call.link.abort()  # the engine dies: no goodbye

    call = calls.place(music_then_gone)
    _park_of(esl, call.uuid)  # the socket application's own
    gevent.sleep(1.5)
    assert _channel(esl, call.uuid)["application"] == "playback", "the music plays on without the engine"
    park = _park_of(esl, call.uuid)  # its piece over: the dialplan's park
    assert park.get("variable_current_application") == "park"
    # `show channels` follows a moment later (FreeSWITCH writes it to its core db in the background)
    wait_for(lambda: _channel(esl, call.uuid)["application"] == "park", timeout=5, what="listed as parked")


def test_a_call_run_through_its_extension_again_comes_back_to_the_socket(switch, esl, calls):
    """How a restarted engine takes a call back: uuid_transfer <uuid> <number> XML <context>."""
    first = calls.place(lambda c: (c.run("answer"), c.link.abort()))
    _park_of(esl, first.uuid)  # the socket application's own
    _park_of(esl, first.uuid)  # the dialplan's park, the socket gone
    channel = wait_for(lambda: (c := _channel(esl, first.uuid) or {}).get("application") == "park" and c, timeout=5,
                       what="listed as parked")
    assert (channel["dest"], channel["context"]) == (DID, "public")
    marker = str(uuidlib.uuid4())
    esl.api(f"uuid_setvar {first.uuid} cic_reclaimed {marker}")
    second = calls.next(lambda c: c.hangup(), lambda: esl.api(
        f"uuid_transfer {first.uuid} {channel['dest']} XML {channel['context']}"))
    assert second.uuid == first.uuid and second.variable("cic_reclaimed") == marker
    assert second.variable("cic_line") == "voice"


def test_a_failed_bridge_hangs_the_caller_up_unless_continue_on_fail(switch, esl, calls):
    results: Queue = Queue()

    def bridge(continue_on_fail: bool):
        def script(call):
            call.run("answer")
            if continue_on_fail:
                call.api(f"uuid_setvar {call.uuid} continue_on_fail true")
            try:
                done = call.run("bridge", f"{{originate_timeout=5}}{switch.busy_endpoint}")
                results.put(("returned", done.get("variable_originate_disposition")))
            except CallGone:
                results.put(("caller hung up", call.hangup_cause))
            call.hangup()
        return script

    calls.place(bridge(False))
    assert results.get(timeout=15) == ("caller hung up", "USER_BUSY")
    calls.place(bridge(True))
    assert results.get(timeout=15) == ("returned", "USER_BUSY")


def test_bridge_to_is_set_while_bridged_and_cleared_after(switch, esl, calls):
    """What a restarted engine reads to leave a caller talking to an agent alone."""
    seen: Queue = Queue()

    def talk(call):
        call.run("answer")
        call.on_event.append(lambda e: e.name == "CHANNEL_BRIDGE" and gevent.spawn(
            lambda: seen.put(esl.api(f"uuid_getvar {call.uuid} bridge_to").strip())))
        call.api(f"uuid_setvar {call.uuid} continue_on_fail true")
        call.run("bridge", "{originate_timeout=5}loopback/agent_bob")
        seen.put(esl.api(f"uuid_getvar {call.uuid} bridge_to").strip())
        call.hangup()

    if isinstance(switch, Real):
        switch.fs.phone("bob", "answer")
        gevent.spawn_later(1.5, switch.fs.api, "hupall NORMAL_CLEARING cic_phone_login bob")
    else:
        switch.switch.talk_s = 1.5
    calls.place(talk)
    during, after = seen.get(timeout=15), seen.get(timeout=15)
    assert len(during) == 36 and after in ("_undef_", "")
