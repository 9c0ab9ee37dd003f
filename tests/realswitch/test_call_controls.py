"""Call controls on the real switch, asked as the inbox asks them (CallControl): hold and back,
blind and attended transfer, three-way conference, supervisors listening, whispering and barging
in, recording (the file is real audio, measured with sox)."""

from __future__ import annotations

import subprocess
import time

import pytest

from cic_engine.callcontrol import CallControl, CallControlError
from tests.realswitch.conftest import Caller, agent_hangs_up
from tests.voice.conftest import interaction, kinds, wait_for

pytestmark = pytest.mark.timeout(150)


@pytest.fixture
def control(store):
    return CallControl(store, timeout_s=15)


def _talking_to_alice(fs, routing, store, number="+8613800138400"):
    caller = Caller(fs, number)
    wait_for(lambda: interaction(store, caller.uuid), what="the call committed")
    alice = routing.agent_id("alice")
    routing.set_available(alice)
    wait_for(lambda: caller.bridged_to() == "alice", what="the bridge to alice")
    found = wait_for(lambda: (i := interaction(store, caller.uuid))["state"] == "active" and i, what="accepted")
    return caller, found["id"], alice


def _agent_leg(fs, caller) -> str:
    return fs.var(caller.uuid, "bridge_to")


def test_the_agent_puts_the_caller_on_hold_and_back_again_and_again(engine, fs, routing, store, control):
    caller, interaction_id, alice = _talking_to_alice(fs, routing, store)
    for n in range(2):
        assert control.hold(interaction_id, alice) == {"held": True}
        wait_for(lambda: caller.application() == "playback", timeout=5, what="the caller hearing the music on hold")
        with pytest.raises(CallControlError, match="already on hold"):
            control.hold(interaction_id, alice)
        assert control.unhold(interaction_id, alice) == {"held": False}
        # the music ended (the bridge goes on: show channels keeps the last application's name)
        wait_for(lambda n=n: fs.completed.count((caller.uuid, "playback")) >= n + 1, what="the music stopped")
        assert caller.bridged_to() == "alice"
        with pytest.raises(CallControlError, match="not on hold"):
            control.unhold(interaction_id, alice)
    assert caller.bridged_to() == "alice"
    assert kinds(store, interaction_id).count("call_held") == 2 and kinds(store, interaction_id).count("call_resumed") == 2


def test_a_blind_transfer_to_another_agent_rings_them_and_frees_the_first(engine, fs, routing, store, control):
    caller, interaction_id, alice = _talking_to_alice(fs, routing, store, "+8613800138401")
    routing.set_available(routing.agent_id("bob"))
    control.transfer(interaction_id, alice, "agent", "bob")
    wait_for(lambda: caller.bridged_to() == "bob", what="the caller with bob")
    wait_for(lambda: interaction(store, caller.uuid)["login"] == "bob", what="the interaction is bob's")
    assert routing.status(alice).loads[0] == 0
    agent_hangs_up(fs, "bob")
    wait_for(lambda: interaction(store, caller.uuid)["state"] == "wrap_up", what="bob's wrap-up")


def test_an_attended_transfer_consults_with_the_caller_on_music_then_completes(engine, fs, routing, store,
                                                                               control):
    caller, interaction_id, alice = _talking_to_alice(fs, routing, store, "+8613800138402")
    bob = routing.agent_id("bob")
    control.consult(interaction_id, alice, "agent", "bob")
    wait_for(lambda: caller.application() == "playback" and not caller.bridged_to(),
             what="the caller on music while alice talks to bob")
    control.complete_transfer(interaction_id, alice)
    wait_for(lambda: caller.bridged_to() == "bob", what="the caller joined to bob")
    wait_for(lambda: interaction(store, caller.uuid)["login"] == "bob", what="the interaction handed to bob")
    assert routing.status(alice).loads[0] == 0 and routing.status(bob).loads[0] == 1
    assert "consult_started" in kinds(store, interaction_id)


def test_a_third_party_joins_in_a_three_way_conference_and_a_supervisor_listens(engine, fs, routing, store, control):
    caller, interaction_id, alice = _talking_to_alice(fs, routing, store, "+8613800138403")
    joined = control.conference(interaction_id, alice, "agent", "bob")
    wait_for(lambda: fs.exists(joined["uuid"]) and fs.channel(joined["uuid"]).get("application") == "three_way",
             what="bob in the conference")
    supervisor = routing.agent_id("bob")
    listening = control.supervise(interaction_id, supervisor, "listen")
    wait_for(lambda: fs.channel(listening["uuid"]).get("application") == "eavesdrop",
             what="the supervisor listening")
    assert control.supervise(interaction_id, supervisor, "barge")["uuid"] == listening["uuid"]
    agent_hangs_up(fs, "alice")
    wait_for(lambda: interaction(store, caller.uuid)["state"] == "wrap_up", what="wrap-up")
    wait_for(lambda: not fs.exists(joined["uuid"]) and not fs.exists(listening["uuid"]),
             what="the conference and supervisor legs hung up with the call")


def test_a_queue_that_records_every_call_keeps_a_real_recording(start_engine, fs, routing, store):
    start_engine(general_queue_extra='recording = "always"\n')
    caller, interaction_id, _ = _talking_to_alice(fs, routing, store, "+8613800138404")
    wait_for(lambda: "recording_started" in kinds(store, interaction_id), what="recording")
    time.sleep(2)  # alice's phone plays a tone meanwhile
    agent_hangs_up(fs, "alice")
    wait_for(lambda: "recording" in kinds(store, interaction_id), what="the recording on the timeline")
    with store.transaction() as conn:
        (data,) = conn.execute("SELECT data FROM timeline_events WHERE interaction_id = %s AND kind = 'recording'",
                               (interaction_id,)).fetchone()
    path = data["path"]
    stat = subprocess.run(["sox", path, "-n", "stat"], capture_output=True, text=True, check=True).stderr
    values = dict(line.rsplit(":", 1) for line in stat.splitlines() if ":" in line)
    assert float(values["Length (seconds)"]) > 1.5
    assert float(values["RMS     amplitude"]) > 0.01, f"the recording is silence: {stat}"


def test_click_to_call_rings_the_agent_then_the_customer(start_engine, fs, routing, store, control):
    start_engine('number_endpoint = "loopback/{number}/cic_customers/XML"\n')
    alice = routing.agent_id("alice")
    routing.set_available(alice)
    made = control.click_to_call(alice, "+8613800138405")
    assert made["number"] == "+8613800138405"
    wait_for(lambda: fs.var(made["agent_uuid"], "bridge_to"), what="alice talking to the customer")
    assert routing.state(made["interaction_id"])[0] == "active"
    control.hold(made["interaction_id"], alice)
    control.unhold(made["interaction_id"], alice)
    fs.api(f"uuid_kill {made['agent_uuid']} NORMAL_CLEARING")  # alice puts the phone down
    wait_for(lambda: routing.state(made["interaction_id"])[0] == "wrap_up", what="wrap-up")
