"""The supervised inbound ESL connection against the simulator: commands, background jobs,
events, and what happens when the switch goes away or talks nonsense."""

from __future__ import annotations

import gevent
import pytest
from gevent.event import Event

from cic_engine.esl.connection import Endpoint, ESLError, InboundConnection
from tests.fakeswitch.switch import FakeSwitch

pytestmark = pytest.mark.timeout(60)


def connect(switch: FakeSwitch, password: str = "ClueCon", **overrides) -> InboundConnection:
    settings = {"backoff_s": 0.05, "max_backoff_s": 0.2, "command_timeout_s": 2.0, **overrides}
    conn = InboundConnection(Endpoint("127.0.0.1", switch.port, password, **settings))
    conn.start()
    return conn


def wait_for(condition, timeout: float = 5.0) -> None:
    with gevent.Timeout(timeout, AssertionError("condition not met in time")):
        while not condition():
            gevent.sleep(0.01)


def test_api_commands_return_their_output_errors_included(switch):
    conn = connect(switch)
    assert conn.connected.wait(5)
    assert "is ready" in conn.api("status")
    assert conn.api("no_such_command") == "-ERR no_such_command Command not found!\n"
    assert switch.commands[:2] == ["auth ClueCon", "event json ALL"]
    conn.stop()


def test_bgapi_result_arrives_with_its_background_job(switch):
    switch.api_handlers["originate"] = lambda arg: "+OK 1234-uuid\n"
    conn = connect(switch)
    conn.connected.wait(5)
    result = conn.bgapi("originate loopback/1000 &park()", job_uuid="job-1")
    assert result.get(timeout=5) == "+OK 1234-uuid\n"
    conn.stop()


def test_events_reach_every_handler_decoded(switch):
    conn = connect(switch)
    seen = []
    conn.on_event.append(seen.append)
    conn.connected.wait(5)
    switch.emit("CHANNEL_CREATE", [("Unique-ID", "u-1"), ("Caller-Caller-ID-Name", "王小明 <&>")])
    wait_for(lambda: seen)
    assert (seen[0].name, seen[0].uuid, seen[0].get("Caller-Caller-ID-Name")) == ("CHANNEL_CREATE", "u-1", "王小明 <&>")
    conn.stop()


def test_a_wrong_password_is_reported_and_not_hammered(switch):
    conn = connect(switch, password="wrong", max_backoff_s=5.0)
    wait_for(lambda: conn.last_error and "authentication refused" in conn.last_error)
    assert not conn.connected.is_set()
    gevent.sleep(0.3)
    assert switch.commands.count("auth wrong") == 1  # backs off to max_backoff_s after a refusal
    conn.stop()


def test_connection_dropped_by_the_switch_comes_back_and_resubscribes(switch):
    conn = connect(switch)
    reconnected = Event()
    calls = []
    conn.on_connected.append(lambda: (calls.append(1), len(calls) == 2 and reconnected.set()))
    seen = []
    conn.on_event.append(seen.append)
    conn.connected.wait(5)
    switch.drop_connections()
    assert reconnected.wait(5), "on_connected runs again so the owner can resync"
    assert switch.commands.count("event json ALL") == 2
    switch.emit("CHANNEL_ANSWER", [("Unique-ID", "u-2")])
    wait_for(lambda: seen)
    assert conn.connects == 2
    conn.stop()


@pytest.mark.parametrize("garbage", [
    b"Content-Length: abc\nContent-Type: api/response\n\n",
    b"Content-Type: command/reply\nReply-Text: \xff\xfe\n\n",
    b"Content-Length: 3\nContent-Type: text/x-unknown\n\nabc",
    b"Content-Length: 9\nContent-Type: text/event-json\n\n{garbage}",
    b"this is not a header\n\n",
])
def test_garbage_on_the_socket_resets_the_connection_and_it_recovers(switch, garbage):
    conn = connect(switch)
    seen = []
    conn.on_event.append(seen.append)
    conn.connected.wait(5)
    switch.send_raw(garbage)
    wait_for(lambda: conn.connects == 2 and conn.connected.is_set())
    assert conn.last_error is None  # back up; the reason was logged
    switch.emit("CHANNEL_CREATE", [("Unique-ID", "after")])
    wait_for(lambda: [e for e in seen if e.uuid == "after"])
    conn.stop()


def test_a_command_without_reply_times_out_and_the_connection_restarts(switch):
    switch.api_handlers["slow"] = lambda arg: gevent.sleep(10) or "late\n"
    conn = connect(switch, command_timeout_s=0.3)
    conn.connected.wait(5)
    with pytest.raises(ESLError, match="no reply within"):
        conn.api("slow")
    wait_for(lambda: conn.connects == 2 and conn.connected.is_set())
    assert "is ready" in conn.api("status")  # replies are matched to the right command again
    conn.stop()


def test_waiting_callers_hear_of_a_lost_connection_at_once(switch):
    switch.api_handlers["slow"] = lambda arg: gevent.sleep(10) or "late\n"
    conn = connect(switch, command_timeout_s=5.0)
    conn.connected.wait(5)
    caller = gevent.spawn(conn.api, "slow")
    gevent.sleep(0.1)
    switch.drop_connections()
    with pytest.raises(ESLError):
        caller.get(timeout=2)
    conn.stop()


def test_commands_while_disconnected_fail_clearly():
    conn = InboundConnection(Endpoint("127.0.0.1", 1, "x", backoff_s=0.05, connect_timeout_s=0.2))
    conn.start()
    with pytest.raises(ESLError, match="not connected"):
        conn.api("status")
    conn.stop()


def test_exit_disconnect_notice_is_handled_as_a_lost_connection(switch):
    conn = connect(switch)
    conn.connected.wait(5)
    switch.send_raw(b"Content-Type: text/disconnect-notice\nContent-Length: 4\n\nbye\n")
    wait_for(lambda: conn.connects == 2 and conn.connected.is_set())
    conn.stop()


def test_a_frame_cut_off_by_a_dropped_connection_is_discarded_and_the_link_recovers(switch):
    conn = connect(switch)
    seen = []
    conn.on_event.append(seen.append)
    conn.connected.wait(5)
    switch.send_raw(b"Content-Length: 500\nContent-Type: text/event-json\n\n{\"Event-Name\": \"CHANNEL_CR")
    switch.drop_connections()
    wait_for(lambda: conn.connects == 2 and conn.connected.is_set())
    switch.emit("CHANNEL_CREATE", [("Unique-ID", "whole")])
    wait_for(lambda: seen)
    assert [e.uuid for e in seen] == ["whole"]  # the half event was never delivered
    conn.stop()
