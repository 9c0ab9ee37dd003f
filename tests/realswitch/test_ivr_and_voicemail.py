"""The caller's side on the real switch: the IVR menu by DTMF (RFC 2833 over loopback), and a
voicemail left after hours with the recording attached."""

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
