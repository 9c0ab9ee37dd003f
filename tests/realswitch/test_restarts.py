"""What happens to callers when the engine, its voice adapter, its event socket or FreeSWITCH
goes away, on the real switch: callers waiting are taken back and served, conversations go on,
nothing is stranded, no interaction is left as a ghost, and calls that were never the engine's
are left alone."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from tests.core.test_run import free_port, get_health
from tests.realswitch.conftest import Caller, agent_hangs_up
from tests.realswitch.cut import CuttableRelay
from tests.voice.conftest import interaction, wait_for

pytestmark = pytest.mark.timeout(180)


def _live(store) -> list[tuple[int, str, str]]:
    """(interaction, state, call uuid) of every voice interaction not closed."""
    with store.transaction() as conn:
        return conn.execute(
            """SELECT i.id, i.state, m.external_id FROM interactions i JOIN messages m ON m.interaction_id = i.id
               WHERE m.channel = 'voice' AND i.state <> 'closed' ORDER BY i.id""").fetchall()


def _voice_messages(store) -> int:
    with store.transaction() as conn:
        return conn.execute("SELECT count(*) FROM messages WHERE channel = 'voice'").fetchone()[0]


def _reload_voice(engine) -> None:
    pbx = engine["config"].parent / "channels" / "pbx.toml"
    pbx.write_text(pbx.read_text().replace("ring_s = 5", "ring_s = 6"))
    done = subprocess.run([sys.executable, "-m", "cic_engine", "reload", "--config", str(engine["config"])],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "restarted: pbx" in done.stdout, done.stdout + done.stderr


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM", "voice reload"])
def test_callers_waiting_when_the_engine_goes_away_are_taken_back_and_served(start_engine, fs, routing, store, how):
    engine = start_engine()
    callers = [Caller(fs, f"+86138001381{n:02d}") for n in range(3)]
    for caller in callers:
        wait_for(lambda c=caller: interaction(store, c.uuid), what="the call committed")
        wait_for(lambda c=caller: c.application() == "playback", what="music on hold")
    if how == "voice reload":
        _reload_voice(engine)
    else:
        engine["proc"].send_signal(getattr(signal, how))
        engine["proc"].wait(timeout=30)
        start_engine()
    # every caller is back with the engine: music again, on its socket, its interaction kept
    for caller in callers:
        wait_for(lambda c=caller: c.up() and c.application() == "playback" and fs.var(c.uuid, "cic_reclaimed"),
                 timeout=20, what=f"caller {caller.number} taken back")
    assert _voice_messages(store) == 3 and [s for _, s, _ in _live(store)] == ["queued"] * 3

    # the agents' loopback phones ring and connect (the reclaimed call still dials through the dialplan)
    routing.set_available(routing.agent_id("alice"))
    first = wait_for(lambda: next((c for c in callers if c.bridged_to() == "alice"), None), what="a caller with alice")
    routing.set_available(routing.agent_id("bob"))
    second = wait_for(lambda: next((c for c in callers if c.bridged_to() == "bob"), None), what="a caller with bob")
    (last,) = [c for c in callers if c not in (first, second)]
    last.hang_up()
    wait_for(lambda: interaction(store, last.uuid)["state"] == "closed", what="the last caller abandoned")
    agent_hangs_up(fs, "alice")
    agent_hangs_up(fs, "bob")
    wait_for(lambda: not _live(store) or all(s == "wrap_up" for _, s, _ in _live(store)), what="no ghost left")


def test_a_conversation_going_on_when_the_engine_dies_goes_on_and_ends_the_agents_work(start_engine, fs, routing,
                                                                                       store):
    engine = start_engine()
    caller = Caller(fs, "+8613800138110")
    routing.set_available(routing.agent_id("alice"))
    wait_for(lambda: caller.bridged_to() == "alice", what="bridged to alice")
    wait_for(lambda: interaction(store, caller.uuid)["state"] == "active", what="accepted")
    engine["proc"].kill()
    engine["proc"].wait()
    time.sleep(1)
    assert caller.bridged_to() == "alice", "the conversation must go on without the engine"
    start_engine()
    time.sleep(2)
    assert caller.bridged_to() == "alice", "the restarted engine must not take a talking caller from the agent"
    agent_hangs_up(fs, "alice")
    wait_for(lambda: not caller.up(), what="the caller's line cleared once the agent hung up")
    wait_for(lambda: interaction(store, caller.uuid)["state"] == "wrap_up", what="the agent's work ended")


def test_callers_who_hang_up_while_the_engine_is_down_leave_no_ghost_interaction(start_engine, fs, routing, store):
    engine = start_engine()
    caller = Caller(fs, "+8613800138111")
    wait_for(lambda: caller.application() == "playback", what="music on hold")
    engine["proc"].kill()
    engine["proc"].wait()
    caller.hang_up()
    wait_for(lambda: not caller.up(), what="the caller gone")
    restarted = start_engine()
    wait_for(lambda: interaction(store, caller.uuid)["state"] == "closed", what="the interaction closed")
    assert interaction(store, caller.uuid)["outcome"] == "abandoned"
    routing.set_available(routing.agent_id("alice"))
    time.sleep(1)
    assert routing.status(routing.agent_id("alice")).state == "available", "nothing offered to alice"
    assert get_health(restarted["web"])[1]["adapters"]["pbx"]["ok"]


def test_new_calls_are_not_taken_a_second_time_as_if_they_were_lost(engine, fs, store):
    """The socket application parks the call itself (CHANNEL_PARK) as it connects: a new call,
    not a lost one."""
    callers = [Caller(fs, f"+86138001382{n:02d}") for n in range(12)]
    for caller in callers:
        wait_for(lambda c=caller: interaction(store, c.uuid), what="the call committed")
    time.sleep(1)
    assert _voice_messages(store) == 12
    assert [s for _, s, _ in _live(store)] == ["queued"] * 12
    assert not any(fs.var(c.uuid, "cic_reclaimed") for c in callers)
    assert get_health(engine["web"])[1]["adapters"]["pbx"]["detail"]["reclaimed"] == 0


def _unrelated_parked_call(fs) -> str:
    """An inbound call parked by someone else's dialplan: nothing to do with the engine."""
    leg = "d1d2d3d4-0000-4000-8000-000000000001"
    fs.api(f"bgapi originate {{origination_uuid={leg}}}loopback/parked/cic_other &park()")
    other = wait_for(lambda: fs.var(leg, "other_loopback_leg_uuid"), what="the unrelated call")
    wait_for(lambda: fs.channel(other).get("application") == "park", what="the unrelated call parked")
    return other


def test_parked_calls_that_were_never_the_engines_are_left_alone(start_engine, fs, store):
    engine = start_engine()
    other = _unrelated_parked_call(fs)
    time.sleep(1.5)
    engine["proc"].kill()
    engine["proc"].wait()
    start_engine()
    time.sleep(2)
    assert fs.channel(other).get("application") == "park"
    assert not fs.var(other, "cic_reclaimed") and interaction(store, other) is None


@pytest.fixture
def relays(fs):
    """Relays between the engine and the switch, both ways: its event socket (esl) and the
    dialplan's `socket` to the engine's outbound socket (calls)."""
    esl = CuttableRelay(free_port(), fs.esl_port)
    outbound = free_port()
    calls = CuttableRelay(fs.engine_port, outbound)
    yield {"esl": esl, "calls": calls, "outbound": outbound}
    esl.stop()
    calls.stop()


def _through(relays) -> str:
    return f'esl_port = {relays["esl"].port}\noutbound_bind = "127.0.0.1:{relays["outbound"]}"\n'


def _one_talking_one_waiting(fs, routing, store, *numbers: str) -> tuple[Caller, Caller]:
    callers = [Caller(fs, number) for number in numbers]
    for caller in callers:
        wait_for(lambda c=caller: c.application() == "playback", what="music on hold")
    routing.set_available(routing.agent_id("alice"))
    talking = wait_for(lambda: next((c for c in callers if c.bridged_to() == "alice"), None), what="one bridged")
    (waiting,) = [c for c in callers if c is not talking]
    wait_for(lambda: interaction(store, talking.uuid)["state"] == "active", what="accepted")
    return talking, waiting


def test_a_lost_event_socket_leaves_waiting_and_talking_callers_in_place(start_engine, fs, routing, store, relays):
    engine = start_engine(_through(relays))
    talking, waiting = _one_talking_one_waiting(fs, routing, store, "+8613800138120", "+8613800138121")
    relays["esl"].cut()
    wait_for(lambda: not get_health(engine["web"])[1]["adapters"]["pbx"]["ok"], what="the engine saw the loss")
    wait_for(lambda: get_health(engine["web"])[1]["adapters"]["pbx"]["ok"], timeout=30, what="ESL back")
    assert waiting.application() == "playback" and not fs.var(waiting.uuid, "cic_reclaimed")
    assert talking.bridged_to() == "alice" and interaction(store, talking.uuid)["state"] == "active"
    routing.set_available(routing.agent_id("bob"))
    wait_for(lambda: waiting.bridged_to() == "bob", what="the waiting caller reaches bob")
    assert _voice_messages(store) == 2


def test_lost_call_sockets_leave_talking_callers_talking_and_waiting_ones_are_taken_back(start_engine, fs, routing,
                                                                                        store, relays):
    """The calls' own sockets close without a hang-up (the engine's node is cut off from the
    switch, mod_event_socket is reloaded...): not a caller hanging up."""
    start_engine(_through(relays) + "moh_piece_s = 3\n")
    talking, waiting = _one_talking_one_waiting(fs, routing, store, "+8613800138122", "+8613800138123")
    relays["calls"].cut()
    # the music piece ends, the dialplan parks the call, the engine takes it back
    wait_for(lambda: fs.var(waiting.uuid, "cic_reclaimed"), timeout=15, what="the waiting caller taken back")
    wait_for(lambda: waiting.application() == "playback", what="music again")
    assert interaction(store, waiting.uuid)["state"] == "queued"
    assert talking.bridged_to() == "alice" and interaction(store, talking.uuid)["state"] == "active"
    routing.set_available(routing.agent_id("bob"))
    wait_for(lambda: waiting.bridged_to() == "bob", what="the waiting caller reaches bob")
    agent_hangs_up(fs, "alice")
    wait_for(lambda: interaction(store, talking.uuid)["state"] == "wrap_up", timeout=20,
             what="alice's work ends with her conversation")
    wait_for(lambda: not talking.up(), what="the talking caller's line cleared")
    assert _voice_messages(store) == 2


def test_after_a_freeswitch_restart_the_engine_reconnects_and_takes_new_calls(engine, fs, routing, store):
    caller = Caller(fs, "+8613800138130")
    wait_for(lambda: interaction(store, caller.uuid), what="the call committed")
    fs.restart()  # every call on the switch is gone
    wait_for(lambda: interaction(store, caller.uuid)["state"] == "closed", timeout=30,
             what="the lost call closed, not left queued")
    wait_for(lambda: get_health(engine["web"])[1]["adapters"]["pbx"]["ok"], timeout=40, what="ESL back")
    again = Caller(fs, "+8613800138131")
    routing.set_available(routing.agent_id("alice"))
    wait_for(lambda: again.bridged_to() == "alice", what="a new call after the restart reaches alice")
