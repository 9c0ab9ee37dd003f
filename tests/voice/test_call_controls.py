"""Call controls end to end: a real `cic-engine run`, FreeSWITCH simulated, the controls asked
through CallControl as the inbox will, and what the caller, the agents' phones and the
timeline see checked."""

from __future__ import annotations

import pytest

from cic_engine.callcontrol import CallControl, CallControlError
from tests.voice.conftest import interaction, kinds, wait_for

pytestmark = pytest.mark.timeout(120)

CALLER = "+86 138 0013 8000"
OUTSIDE = "+8613900139000"


@pytest.fixture
def control(store):
    return CallControl(store, timeout_s=15)


def _talking_to_alice(engine, switch, routing, store):
    call = switch.call(engine["outbound"], CALLER)
    wait_for(lambda: interaction(store, call.uuid), what="the call committed")
    alice = routing.agent_id("alice")
    routing.set_available(alice)
    wait_for(lambda: call.bridged_to == "alice", what="the bridge to alice")
    found = wait_for(lambda: (i := interaction(store, call.uuid))["state"] == "active" and i, what="accepted")
    return call, found["id"], alice


def test_the_agent_puts_the_caller_on_hold_and_back(engine, switch, routing, store, control):
    call, interaction_id, alice = _talking_to_alice(engine, switch, routing, store)
    assert control.hold(interaction_id, alice) == {"held": True}
    # the caller hears the music on hold, still bridged to alice (the switch suspends the bridge)
    assert call.playing == "local_stream://moh" and call.partner is switch.leg("alice")
    with pytest.raises(CallControlError, match="already on hold"):
        control.hold(interaction_id, alice)
    with pytest.raises(CallControlError, match="not talking"):
        control.unhold(interaction_id, routing.agent_id("bob"))  # not bob's call
    control.unhold(interaction_id, alice)
    wait_for(lambda: call.playing is None, what="the music stopped")
    assert [k for k in kinds(store, interaction_id) if k.startswith("call_")] == ["call_held", "call_resumed"]
    control.hangup(interaction_id, alice)
    call.wait()
    assert wait_for(lambda: interaction(store, call.uuid)["state"] == "wrap_up", what="wrap-up")


def test_a_blind_transfer_to_another_agent_rings_them_and_frees_the_first(engine, switch, routing, store, control):
    call, interaction_id, alice = _talking_to_alice(engine, switch, routing, store)
    bob = routing.agent_id("bob")
    with pytest.raises(CallControlError, match="bob cannot take a call now"):
        control.transfer(interaction_id, alice, "agent", "bob")  # bob is offline
    assert call.bridged_to == "alice"  # a refused transfer leaves the call as it was
    routing.set_available(bob)
    control.transfer(interaction_id, alice, "agent", "bob")
    wait_for(lambda: call.bridged_to == "bob", what="the bridge to bob")
    moved = wait_for(lambda: (i := interaction(store, call.uuid))["login"] == "bob" and i["state"] == "active" and i,
                     what="bob on the call")
    assert routing.status(alice).state == "available"
    assert moved["id"] == interaction_id  # one interaction, two agents on its timeline
    assert "transferred" in kinds(store, interaction_id)
    call.agent_hangs_up()
    call.wait()


def test_a_blind_transfer_to_a_number_connects_the_caller_and_ends_the_agents_work(engine, switch, routing, store,
                                                                                  control):
    call, interaction_id, alice = _talking_to_alice(engine, switch, routing, store)
    with pytest.raises(CallControlError, match="not a valid phone number"):
        control.transfer(interaction_id, alice, "number", "12")
    control.transfer(interaction_id, alice, "number", "139 0013 9000")
    wait_for(lambda: call.bridged_to == OUTSIDE, what="the bridge to the outside number")
    done = wait_for(lambda: (i := interaction(store, call.uuid))["state"] == "wrap_up" and i, what="alice's wrap-up")
    assert done["outcome"] == "transferred"
    call.agent_hangs_up()
    call.wait()


def test_an_attended_transfer_consults_with_the_caller_on_music_then_completes(engine, switch, routing, store,
                                                                               control):
    call, interaction_id, alice = _talking_to_alice(engine, switch, routing, store)
    bob = routing.agent_id("bob")
    control.consult(interaction_id, alice, "agent", "bob")
    alice_leg, bob_leg = switch.leg("alice"), switch.leg("bob")
    assert alice_leg.partner is bob_leg  # alice talks to bob...
    wait_for(lambda: call.partner is None and call.apps[-1] == ("playback", "local_stream://moh"),
             what="the caller on music")  # ...while the caller waits with music
    control.complete_transfer(interaction_id, alice)
    wait_for(lambda: call.partner is bob_leg, what="the caller joined to bob")
    wait_for(lambda: alice_leg.ended.is_set(), what="alice's leg hung up")
    wait_for(lambda: interaction(store, call.uuid)["login"] == "bob", what="the interaction handed to bob")
    assert routing.status(alice).loads[0] == 0 and routing.status(bob).loads[0] == 1
    control.hold(interaction_id, bob)  # the controls are bob's now
    assert call.playing == "local_stream://moh"
    bob_leg.hang_up()
    call.wait()
    done = wait_for(lambda: (i := interaction(store, call.uuid))["state"] == "wrap_up" and i, what="bob's wrap-up")
    assert done["login"] == "bob"


def test_a_cancelled_consultation_brings_the_agent_back_to_the_caller(engine, switch, routing, store, control):
    call, interaction_id, alice = _talking_to_alice(engine, switch, routing, store)
    switch.phones["bob"] = "no-answer"
    with pytest.raises(CallControlError, match="did not answer"):
        control.consult(interaction_id, alice, "agent", "bob")
    assert call.bridged_to == "alice"
    control.consult(interaction_id, alice, "number", OUTSIDE)
    outside = switch.leg(OUTSIDE)
    with pytest.raises(CallControlError, match="consultation is going on"):
        control.transfer(interaction_id, alice, "queue", "general")
    control.cancel_consult(interaction_id, alice)
    wait_for(lambda: call.partner is switch.leg("alice"), what="alice back with the caller")
    assert outside.ended.is_set()
    assert interaction(store, call.uuid)["login"] == "alice"
    assert "consult_cancelled" in kinds(store, interaction_id)
    call.agent_hangs_up()
    call.wait()


def test_the_agent_hanging_up_during_a_consultation_completes_the_transfer(engine, switch, routing, store, control):
    call, interaction_id, alice = _talking_to_alice(engine, switch, routing, store)
    control.consult(interaction_id, alice, "agent", "bob")
    bob_leg = switch.leg("bob")
    switch.leg("alice").hang_up()  # as on an office phone: hanging up hands the caller over
    wait_for(lambda: call.partner is bob_leg, what="the caller joined to bob")
    wait_for(lambda: interaction(store, call.uuid)["login"] == "bob", what="the interaction handed to bob")
    bob_leg.hang_up()
    call.wait()


def test_the_consulted_party_hanging_up_brings_the_agent_back(engine, switch, routing, store, control):
    call, interaction_id, alice = _talking_to_alice(engine, switch, routing, store)
    control.consult(interaction_id, alice, "number", OUTSIDE)
    switch.leg(OUTSIDE).hang_up()
    wait_for(lambda: call.partner is switch.leg("alice"), what="alice back with the caller")
    control.hangup(interaction_id, alice)
    call.wait()
    assert wait_for(lambda: interaction(store, call.uuid)["state"] == "wrap_up", what="wrap-up")


def test_hanging_up_during_a_consultation_ends_the_call_for_everyone(engine, switch, routing, store, control):
    call, interaction_id, alice = _talking_to_alice(engine, switch, routing, store)
    control.consult(interaction_id, alice, "agent", "bob")
    alice_leg, bob_leg = switch.leg("alice"), switch.leg("bob")
    control.hangup(interaction_id, alice)
    call.wait()
    wait_for(lambda: alice_leg.ended.is_set() and bob_leg.ended.is_set(), what="every leg hung up")
    assert wait_for(lambda: interaction(store, call.uuid)["state"] == "wrap_up", what="wrap-up")


def test_a_third_party_joins_in_a_three_way_conference(engine, switch, routing, store, control):
    call, interaction_id, alice = _talking_to_alice(engine, switch, routing, store)
    joined = control.conference(interaction_id, alice, "number", OUTSIDE)
    leg = switch.leg(OUTSIDE)
    assert (leg.application, leg.target, leg.uuid) == ("three_way", switch.leg("alice").uuid, joined["uuid"])
    call.hang_up()  # the caller leaves: the engine hangs up the conference party too
    wait_for(lambda: leg.ended.is_set(), what="the third party hung up")


def test_a_supervisor_listens_then_whispers_then_barges_in(engine, switch, routing, store, control):
    call, interaction_id, alice = _talking_to_alice(engine, switch, routing, store)
    bob = routing.agent_id("bob")  # supervising
    control.supervise(interaction_id, bob, "listen")
    line = switch.leg("bob")
    assert (line.application, line.target, line.mode) == ("eavesdrop", switch.leg("alice").uuid, "listen")
    control.supervise(interaction_id, bob, "whisper")
    assert line.mode == "whisper"
    control.supervise(interaction_id, bob, "barge")
    assert line.mode == "barge"
    assert len([leg for leg in switch.legs if leg.name == "bob"]) == 1  # one line, switched by its keys
    modes = [r["mode"] for r in _timeline(store, interaction_id, "supervised")]
    assert modes == ["listen", "whisper", "barge"]
    call.agent_hangs_up()
    wait_for(lambda: line.ended.is_set(), what="the supervisor's line hung up")


def test_a_queue_that_records_every_call_puts_the_recording_on_the_timeline(start_engine, switch, routing, store,
                                                                            control, tmp_path):
    engine = start_engine(f'recordings = "{tmp_path}"\n', 'recording = "always"\n')
    call, interaction_id, alice = _talking_to_alice(engine, switch, routing, store)
    wait_for(lambda: call.uuid in switch.recording, what="the recording started")
    with pytest.raises(CallControlError, match="records every call"):
        control.stop_recording(interaction_id, alice)
    call.agent_hangs_up()
    call.wait()
    [row] = wait_for(lambda: _timeline(store, interaction_id, "recording"), what="the recording on the timeline")
    assert row["path"] == f"{tmp_path}/{interaction_id}-{call.uuid}.wav" and row["bytes"] > 44
    assert (tmp_path / f"{interaction_id}-{call.uuid}.wav").read_bytes()[:4] == b"RIFF"


def test_recording_on_demand_and_never(start_engine, switch, routing, store, control, tmp_path):
    engine = start_engine(f'recordings = "{tmp_path}"\n', 'recording = "on-demand"\n')
    call, interaction_id, alice = _talking_to_alice(engine, switch, routing, store)
    assert call.uuid not in switch.recording
    path = control.start_recording(interaction_id, alice)["recording"]
    assert switch.recording[call.uuid][0] == path
    control.stop_recording(interaction_id, alice)
    assert path in switch.recordings
    assert _timeline(store, interaction_id, "recording")[0]["path"] == path
    call.agent_hangs_up()
    call.wait()


def test_a_caller_asks_to_be_called_back_and_keeps_their_place(start_engine, switch, routing, store):
    engine = start_engine('[callback]\nkey = "1"\n')
    call = switch.call(engine["outbound"], CALLER)
    waiting = wait_for(lambda: interaction(store, call.uuid), what="the call committed")
    wait_for(lambda: [a for a, arg in call.apps if a == "playback" and "moh" in arg], what="music on hold")
    call.press("1")
    call.wait()
    kept = interaction(store, call.uuid)
    assert kept["state"] == "queued" and kept["callback"] and kept["callback_number"] == "+8613800138000"
    assert kept["rank_at"] == waiting["rank_at"] or waiting["rank_at"] is None
    assert "abandoned" not in kinds(store, kept["id"])

    routing.set_available(routing.agent_id("alice"))  # alice's turn: her phone rings, then the customer's
    customer = wait_for(lambda: [leg for leg in switch.legs if leg.name == "+8613800138000"], what="the callback")[0]
    agent_leg = next(c for c in switch.calls if c.direction == "outbound")
    assert agent_leg.destination == "alice" and agent_leg.partner is customer
    talking = wait_for(lambda: (i := interaction(store, call.uuid))["state"] == "active" and i, what="accepted")
    assert talking["login"] == "alice" and talking["id"] == kept["id"]
    customer.hang_up()
    wait_for(lambda: interaction(store, call.uuid)["state"] == "wrap_up", what="wrap-up")


def test_an_agent_free_while_the_caller_hears_the_confirmation_still_calls_them_back(start_engine, switch, routing,
                                                                                     store):
    engine = start_engine('[callback]\nkey = "1"\nconfirm = "tone_stream://confirm"\n')
    call = switch.call(engine["outbound"], CALLER, playback_s=1.5)  # a confirmation long enough to be free in
    wait_for(lambda: [a for a, arg in call.apps if a == "playback" and "moh" in arg], what="music on hold")
    call.press("1")
    wait_for(lambda: call.playing == "tone_stream://confirm", what="the confirmation")
    routing.set_available(routing.agent_id("alice"))  # the offer comes while the caller is still on the line
    call.wait()
    customer = wait_for(lambda: [leg for leg in switch.legs if leg.name == "+8613800138000"], timeout=10,
                        what="the callback")[0]
    talking = wait_for(lambda: (i := interaction(store, call.uuid))["state"] == "active" and i, what="accepted")
    assert talking["login"] == "alice"
    customer.hang_up()


def test_click_to_call_rings_the_agent_then_the_customer(engine, switch, routing, store, control):
    alice = routing.agent_id("alice")
    with pytest.raises(CallControlError, match="cannot make a call now"):
        control.click_to_call(alice, "13800138000")  # offline
    routing.set_available(alice)
    with pytest.raises(CallControlError, match="not a valid phone number"):
        control.click_to_call(alice, "99")
    made = control.click_to_call(alice, "138 0013 8000")
    assert made["number"] == "+8613800138000"
    customer = wait_for(lambda: [leg for leg in switch.legs if leg.name == "+8613800138000"], what="the customer")[0]
    agent_leg = next(c for c in switch.calls if c.direction == "outbound")
    assert agent_leg.uuid == made["agent_uuid"] and agent_leg.partner is customer
    with store.transaction() as conn:
        row = conn.execute("SELECT direction, state, channel, assigned_agent_id FROM interactions WHERE id = %s",
                           (made["interaction_id"],)).fetchone()
    assert row == ("outbound", "active", "voice", alice)
    control.hold(made["interaction_id"], alice)
    assert customer.playing == "local_stream://moh"  # the customer hears the music on hold
    control.unhold(made["interaction_id"], alice)
    assert customer.playing is None
    customer.hang_up()
    wait_for(lambda: routing.state(made["interaction_id"])[0] == "wrap_up", what="wrap-up")


def _timeline(store, interaction_id: int, kind: str) -> list[dict]:
    with store.transaction() as conn:
        return [r[0] for r in conn.execute(
            "SELECT data FROM timeline_events WHERE interaction_id = %s AND kind = %s ORDER BY id",
            (interaction_id, kind)).fetchall()]
