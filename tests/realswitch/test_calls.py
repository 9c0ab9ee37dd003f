"""Calls end to end through a real FreeSWITCH with the shipped dialplan: a caller waits with
music and is bridged to the free agent, the agent or the caller hangs up, an abandon."""

from __future__ import annotations

import pytest

from tests.realswitch.conftest import Caller, agent_hangs_up
from tests.voice.conftest import interaction, kinds, wait_for

pytestmark = pytest.mark.timeout(120)


def test_a_caller_waits_with_music_and_is_bridged_to_the_free_agent(engine, fs, routing, store):
    caller = Caller(fs, "+8613800138000", name="Wang Li")
    waiting = wait_for(lambda: interaction(store, caller.uuid), what="the call committed")
    assert waiting["state"] == "queued"
    wait_for(lambda: caller.application() == "playback", what="music on hold")

    routing.set_available(routing.agent_id("alice"))
    wait_for(lambda: caller.bridged_to() == "alice", what="the bridge to alice")
    answered = wait_for(lambda: (i := interaction(store, caller.uuid))["state"] == "active" and i, what="accepted")
    assert answered["login"] == "alice"

    agent_hangs_up(fs, "alice")
    done = wait_for(lambda: (i := interaction(store, caller.uuid))["state"] == "wrap_up" and i, what="wrap-up")
    flow = [k for k in kinds(store, done["id"]) if k in ("queued", "offered", "accepted", "wrap_up", "closed")]
    assert flow == ["queued", "offered", "accepted", "wrap_up"]
    wait_for(lambda: not caller.up(), what="the caller's line cleared")


def test_a_caller_who_hangs_up_while_waiting_is_counted_as_abandoned(engine, fs, store):
    caller = Caller(fs, "+8613800138002")
    wait_for(lambda: interaction(store, caller.uuid), what="the call committed")
    wait_for(lambda: caller.application() == "playback", what="music on hold")
    caller.hang_up()
    gone = wait_for(lambda: (i := interaction(store, caller.uuid))["state"] == "closed" and i, what="abandoned")
    assert gone["outcome"] == "abandoned"
