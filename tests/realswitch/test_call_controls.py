"""Call controls on the real switch, asked as the inbox asks them (CallControl): hold and back,
blind and attended transfer, three-way conference, supervisors listening, whispering and barging
in, recording (the file is real audio, measured with sox)."""

from __future__ import annotations

import pytest

from cic_engine.callcontrol import CallControl, CallControlError
from tests.realswitch.conftest import Caller
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
    for _ in range(2):
        assert control.hold(interaction_id, alice) == {"held": True}
        assert caller.application() == "playback", "the caller hears the music on hold"
        with pytest.raises(CallControlError, match="already on hold"):
            control.hold(interaction_id, alice)
        assert control.unhold(interaction_id, alice) == {"held": False}
        wait_for(lambda: caller.application() == "bridge", what="the caller back with alice")
        with pytest.raises(CallControlError, match="not on hold"):
            control.unhold(interaction_id, alice)
    assert caller.bridged_to() == "alice"
    assert kinds(store, interaction_id).count("call_held") == 2 and kinds(store, interaction_id).count("call_resumed") == 2
