"""An agent's phone on the real switch: it does not answer, is busy, refuses, or is not
registered. The caller keeps their place in line, the phone rings no longer than `ring_s`
whatever kind of endpoint it is, the agent is marked as having missed the offer, and the next
agent gets the call. And a free agent's phone rings at once, without a stall."""

from __future__ import annotations

import time

import pytest

from tests.realswitch.conftest import Caller, agent_hangs_up
from tests.voice.conftest import interaction, kinds, wait_for

pytestmark = pytest.mark.timeout(150)


@pytest.mark.parametrize("mode", ["noanswer", "busy", "reject"])
def test_a_phone_that_does_not_take_the_call_gives_it_back_and_the_caller_keeps_their_place(engine, fs, routing,
                                                                                             store, mode):
    fs.phone("alice", mode)
    caller = Caller(fs, "+8613800138200")
    wait_for(lambda: caller.application() == "playback", what="music on hold")
    alice = routing.agent_id("alice")
    routing.set_available(alice)
    offered = time.monotonic()
    given_back = "offer_rejected" if mode == "reject" else "offer_timeout"  # a refusal is not a miss
    wait_for(lambda: given_back in kinds(store, interaction(store, caller.uuid)["id"]), timeout=20,
             what="the offer given back")
    rang_s = time.monotonic() - offered
    assert routing.status(alice).missed_offers == (0 if mode == "reject" else 1)
    assert caller.up(), "the caller must not be dropped"
    assert interaction(store, caller.uuid)["state"] == "queued"
    if mode == "noanswer":
        assert 4 <= rang_s < 9, f"alice's phone rang {rang_s:.1f}s; ring_s is 5"
    wait_for(lambda: caller.application() == "playback", what="music again")
    routing.set_available(routing.agent_id("bob"))
    wait_for(lambda: caller.bridged_to() == "bob", what="bob gets the call")
    agent_hangs_up(fs, "bob")


def test_an_unregistered_sip_phone_gives_the_call_back_and_the_caller_keeps_their_place(start_engine, fs, routing,
                                                                                        store):
    # the shipped directory's user/alice, with no phone registered
    start_engine('agent_endpoint = "user/{login}"\n')
    caller = Caller(fs, "+8613800138201")
    wait_for(lambda: caller.application() == "playback", what="music on hold")
    alice = routing.agent_id("alice")
    routing.set_available(alice)
    wait_for(lambda: routing.status(alice).missed_offers == 1, timeout=20, what="alice marked as having missed it")
    time.sleep(0.5)
    assert caller.up(), "the caller must not be dropped"
    found = interaction(store, caller.uuid)
    assert found["state"] == "queued" and "abandoned" not in kinds(store, found["id"])
    wait_for(lambda: caller.application() == "playback", what="music again")


def test_a_free_agents_phone_rings_at_once(engine, fs, routing, store):
    """From the call's commit to the agent's answer: no wait for music that never started."""
    routing.set_available(routing.agent_id("alice"))
    for n in range(5):
        caller = Caller(fs, f"+86138001382{n + 10}")
        found = wait_for(lambda c=caller: interaction(store, c.uuid), what="the call committed")
        started = time.monotonic()
        wait_for(lambda c=caller: c.bridged_to() == "alice", timeout=15, what="the bridge to alice")
        assert time.monotonic() - started < 2.5, f"call {n}: {time.monotonic() - started:.1f}s to ring alice"
        agent_hangs_up(fs, "alice")
        wait_for(lambda c=caller: interaction(store, c.uuid)["state"] == "wrap_up", what="wrap-up")
        routing.complete_wrap_up(found["id"], routing.agent_id("alice"))
        wait_for(lambda: routing.status(routing.agent_id("alice")).state == "available", timeout=20,
                 what="alice free again")
