"""The post-call survey through the switch: after the agent hangs up, the caller hears the
question and presses 1-5; the score is on the call's survey and timeline."""

from __future__ import annotations

import pytest

from tests.voice.conftest import interaction, kinds, wait_for

pytestmark = pytest.mark.timeout(120)


def test_a_caller_rates_the_call_with_a_key_after_the_agent_hangs_up(start_engine, switch, routing, store):
    engine = start_engine("", general_queue_extra='[csat]\nafter = ["interaction"]\nvoice_prompt = "ivr/rate-us.wav"\n')
    routing.set_available(routing.agent_id("alice"))
    call = switch.call(engine["outbound"], "+86 138 0013 8000")
    wait_for(lambda: call.bridged_to == "alice", what="the bridge to alice")
    wait_for(lambda: (i := interaction(store, call.uuid)) and i["state"] == "active", what="accepted")
    call.agent_hangs_up()
    wait_for(lambda: [a for a, arg in call.apps if a == "play_and_get_digits" and "ivr/rate-us.wav" in arg],
             what="the survey question")
    call.press("5")
    call.wait()
    item = interaction(store, call.uuid)
    with store.transaction() as conn:
        row = conn.execute("SELECT score, channel FROM surveys WHERE interaction_id = %s", (item["id"],)).fetchone()
    assert row == (5, "voice")
    assert "csat" in kinds(store, item["id"])
