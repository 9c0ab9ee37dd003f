"""The caller's side on the real switch: the IVR menu by DTMF (RFC 2833 over loopback), a
voicemail left after hours with the recording attached, a callback asked for while waiting."""

from __future__ import annotations

import pytest

from tests.realswitch.conftest import Caller
from tests.voice.conftest import interaction, wait_for

pytestmark = pytest.mark.timeout(120)

IVR = """
[ivr]
start = "main"
[ivr.menus.main]
prompt = "tone_stream://%(300,100,440)"
invalid = "tone_stream://%(100,50,300)"
timeout_ms = 4000
choices = { "1" = { queue = "general", skills = { billing = 5 } }, "2" = { play = "tone_stream://%(200,0,600)" } }
"""


def test_a_caller_chooses_in_the_menu_by_key_and_waits_with_the_chosen_skills(start_engine, fs, store):
    start_engine(IVR)
    caller = Caller(fs, "+8613800138600")
    wait_for(lambda: caller.application() == "play_and_get_digits", what="the menu")
    caller.press("1")
    queued = wait_for(lambda: interaction(store, caller.uuid), timeout=20, what="the call queued")
    assert queued["state"] == "queued" and queued["skills"] == {"billing": 5}
    with store.transaction() as conn:
        (metadata,) = conn.execute("SELECT metadata FROM messages WHERE external_id = %s", (caller.uuid,)).fetchone()
    assert metadata["ivr"].endswith("main:1")


def test_self_service_plays_and_ends_the_call_on_record(start_engine, fs, store):
    start_engine(IVR)
    caller = Caller(fs, "+8613800138601")
    wait_for(lambda: caller.application() == "play_and_get_digits", what="the menu")
    caller.press("2")
    wait_for(lambda: not caller.up(), timeout=20, what="the call ended after the message")
    record = wait_for(lambda: interaction(store, caller.uuid), what="the call on record")
    assert record["state"] == "closed" and record["queue_id"] is None


CLOSED_ALL_WEEK = """
hours = { timezone = "UTC" }
after_hours = { action = "voicemail" }
[[queues]]
name = "messages"
channels = ["voice"]
"""


def test_after_hours_the_caller_leaves_a_voicemail_that_waits_for_an_agent(start_engine, fs, store):
    start_engine(f'[voicemail]\nqueue = "messages"\ndirectory = "{fs.recordings}"\ngreeting = "tone_stream://%(300,0,800)"\n'
                 'silence_s = 1\nmax_s = 5\n', CLOSED_ALL_WEEK)
    caller = Caller(fs, "+8613800138602")
    wait_for(lambda: caller.application() == "record", timeout=20, what="recording the message")
    message = wait_for(lambda: interaction(store, f"{caller.uuid}:voicemail"), timeout=20,
                       what="the voicemail committed")
    assert message["state"] == "queued"
    with store.transaction() as conn:
        names = [r[0] for r in conn.execute(
            "SELECT a.filename FROM attachments a JOIN messages m ON m.id = a.message_id WHERE m.external_id = %s",
            (f"{caller.uuid}:voicemail",)).fetchall()]
    assert names == [f"{caller.uuid}.wav"]


CALLBACK = """number_endpoint = "loopback/{number}/cic_customers/XML"
[callback]
key = "1"
prompt = "tone_stream://%(100,0,700)"
confirm = "tone_stream://%(2000,0,900)"
caller_id = "+861065521000"
"""


@pytest.mark.parametrize("free", ["after the caller hung up", "while the caller hears the confirmation"])
def test_a_waiting_caller_asks_to_be_called_back_and_is_when_an_agent_is_free(start_engine, fs, routing, store, free):
    start_engine(CALLBACK)
    caller = Caller(fs, "+8613800138800")
    wait_for(lambda: caller.application() == "playback", what="music on hold")
    caller.press("1")
    alice = routing.agent_id("alice")
    if free == "after the caller hung up":
        wait_for(lambda: not caller.up(), timeout=15, what="the caller hung up after the confirmation")
    else:
        wait_for(lambda: "900" in caller.application_data(), timeout=15, what="the confirmation playing")
    waiting = interaction(store, caller.uuid)
    assert waiting["state"] == "queued" and waiting["callback_number"] == "+8613800138800"
    routing.set_available(alice)
    # alice's phone rings first, then the customer's: the two are bridged
    customer = wait_for(lambda: next((c for c in fs.channels() if c["name"].startswith("loopback/+8613800138800")
                                      and fs.var(c["uuid"], "bridge_to")), None), timeout=20,
                        what="the customer called back and connected")
    wait_for(lambda: routing.state(waiting["id"]) == ("active", alice), what="alice working the callback")
    fs.api(f"uuid_kill {customer['uuid']} NORMAL_CLEARING")
    wait_for(lambda: routing.state(waiting["id"])[0] == "wrap_up", what="alice's wrap-up")
