"""Calls end to end: a real `cic-engine run` with a voice adapter, FreeSWITCH simulated by
tests/fakeswitch, agents acting through the routing API, the database checked for what a
supervisor would see."""

from __future__ import annotations

import gevent
import pytest

from tests.core.test_run import free_port, get_health, stop
from tests.fakeswitch.switch import FakeSwitch
from tests.voice.conftest import interaction, kinds, start_voice_engine, wait_for

pytestmark = pytest.mark.timeout(120)


def test_a_caller_waits_with_music_and_is_bridged_to_the_free_agent(engine, switch, routing, store):
    call = switch.call(engine["outbound"], "+86 138 0013 8000", caller_name="Wang Li")
    waiting = wait_for(lambda: interaction(store, call.uuid), what="the call committed")
    assert waiting["state"] == "queued"
    wait_for(lambda: [a for a, arg in call.apps if a == "playback" and "moh" in arg], what="music on hold")

    routing.set_available(routing.agent_id("alice"))
    wait_for(lambda: call.bridged_to == "alice", what="the bridge to alice")
    answered = wait_for(lambda: (i := interaction(store, call.uuid))["state"] == "active" and i, what="accepted")
    assert answered["login"] == "alice"

    call.agent_hangs_up()
    call.wait()
    done = wait_for(lambda: (i := interaction(store, call.uuid))["state"] == "wrap_up" and i, what="wrap-up")
    flow = [k for k in kinds(store, done["id"]) if k in ("queued", "offered", "accepted", "wrap_up", "closed")]
    assert flow == ["queued", "offered", "accepted", "wrap_up"]
    assert [a for a, _ in call.apps][:2] == ["answer", "playback"] and "bridge" in [a for a, _ in call.apps]
    status, health = get_health(engine["web"])
    assert health["adapters"]["pbx"]["ok"] and health["adapters"]["pbx"]["kind"] == "voice"


def test_an_agent_who_does_not_answer_gives_the_call_back_and_the_next_agent_gets_it(engine, switch, routing, store):
    switch.phones["alice"] = "no-answer"
    routing.set_available(routing.agent_id("alice"))
    gevent.sleep(0.05)
    routing.set_available(routing.agent_id("bob"))
    call = switch.call(engine["outbound"], "+86 138 0013 8001")
    wait_for(lambda: call.bridged_to == "bob", what="the bridge to bob")
    assert call.rang == ["alice", "bob"]
    item = wait_for(lambda: (i := interaction(store, call.uuid))["state"] == "active" and i, what="bob accepted")
    assert "offer_timeout" in kinds(store, item["id"])
    assert routing.status(routing.agent_id("alice")).missed_offers == 1
    call.hang_up()
    call.wait()


def test_a_caller_who_hangs_up_while_waiting_is_counted_as_abandoned(engine, switch, store):
    call = switch.call(engine["outbound"], "+86 138 0013 8002")
    wait_for(lambda: [a for a, arg in call.apps if a == "playback"], what="music on hold")
    call.hang_up("ORIGINATOR_CANCEL")
    call.wait()
    gone = wait_for(lambda: (i := interaction(store, call.uuid))["state"] == "closed" and i, what="abandoned")
    assert gone["outcome"] == "abandoned"


IVR = """
[ivr]
start = "main"
[ivr.menus.main]
prompt = "ivr/main.wav"
choices = { "1" = { queue = "general", skills = { billing = 5 } }, "2" = { play = "ivr/opening-hours.wav" } }
"""


def test_a_caller_goes_through_the_menu_after_a_wrong_key_and_waits_with_the_chosen_skills(start_engine, switch,
                                                                                          store):
    call = _at_the_menu(start_engine, switch, "+86 138 0013 8003")
    call.press("7")
    wait_for(lambda: len([a for a, _ in call.apps if a == "play_and_get_digits"]) == 2, what="the menu again")
    call.press("1")
    queued = wait_for(lambda: interaction(store, call.uuid), what="the call queued")
    assert queued["state"] == "queued" and queued["skills"] == {"billing": 5}
    with store.transaction() as conn:
        (metadata,) = conn.execute("SELECT metadata FROM messages WHERE external_id = %s", (call.uuid,)).fetchone()
    assert metadata["ivr"] == "main:7 invalid > main:1"
    assert ("playback", "ivr/ivr-that_was_an_invalid_entry.wav") in call.apps
    call.hang_up()
    call.wait()


def _at_the_menu(start_engine, switch, number: str):
    """A call from `number` to an engine with the IVR, once it hears the menu."""
    engine = start_engine(IVR)
    call = switch.call(engine["outbound"], number)
    wait_for(lambda: [a for a, _ in call.apps if a == "play_and_get_digits"], what="the menu prompt")
    return call


def test_self_service_ends_the_call_and_is_still_on_record(start_engine, switch, store):
    call = _at_the_menu(start_engine, switch, "+86 138 0013 8004")
    call.press("2")
    call.wait()
    assert ("playback", "ivr/opening-hours.wav") in call.apps and call.hangup_cause == "NORMAL_CLEARING"
    record = wait_for(lambda: interaction(store, call.uuid), what="the call on record")
    assert record["state"] == "closed" and record["queue_id"] is None


def test_waiting_callers_hear_their_place_in_line(start_engine, switch, store):
    engine = start_engine('[announce]\nevery_s = 0.3\nlanguage = "zh"\n')
    first = switch.call(engine["outbound"], "+86 138 0013 8005")
    wait_for(lambda: interaction(store, first.uuid), what="the first call queued")
    second = switch.call(engine["outbound"], "+86 138 0013 8006")
    wait_for(lambda: ("say", "zh number pronounced 2") in second.apps, what="second in line")
    assert ("say", "zh number pronounced 1") in first.apps
    assert ("playback", "ivr/ivr-you_are_number.wav") in second.apps
    # music resumes after each announcement
    wait_for(lambda: [a for a, arg in second.apps if a == "playback" and "moh" in arg][1:], what="music again")
    for call in (first, second):
        call.hang_up()
        call.wait()


def test_a_dropped_event_socket_does_not_drop_the_calls(engine, switch, routing, store):
    call = switch.call(engine["outbound"], "+86 138 0013 8007")
    wait_for(lambda: interaction(store, call.uuid), what="the call queued")
    wait_for(lambda: get_health(engine["web"])[1]["adapters"]["pbx"]["ok"], what="ESL up")
    switch.drop_connections()  # the switch's event socket restarts mid-call
    subscribe = "event json BACKGROUND_JOB CHANNEL_PARK CHANNEL_HANGUP_COMPLETE HEARTBEAT"
    wait_for(lambda: switch.commands.count(subscribe) == 2, what="logged in and subscribed again")
    status, health = wait_for(lambda: (h := get_health(engine["web"]))[1]["adapters"]["pbx"]["ok"] and h,
                              what="ESL back")
    assert health["adapters"]["pbx"]["detail"]["calls"] == 1
    routing.set_available(routing.agent_id("alice"))
    wait_for(lambda: call.bridged_to == "alice", what="the waiting call still connects")
    call.agent_hangs_up()
    call.wait()
    assert call.hangup_cause == "NORMAL_CLEARING"


CLOSED_ALL_WEEK = """
hours = { timezone = "UTC" }
after_hours = { action = "voicemail" }
[[queues]]
name = "messages"
channels = ["voice"]
"""


def _after_hours_engine(start_engine, tmp_path):
    """general is closed all week; voicemails wait in `messages` (always open)."""
    recordings = tmp_path / "recordings"
    recordings.mkdir()
    return start_engine(f'[voicemail]\nqueue = "messages"\ndirectory = "{recordings}"\n', CLOSED_ALL_WEEK), recordings


def test_after_hours_a_caller_leaves_a_voicemail_that_waits_for_an_agent(start_engine, switch, store, tmp_path):
    engine, recordings = _after_hours_engine(start_engine, tmp_path)
    call = switch.call(engine["outbound"], "+86 138 0013 8008")
    call.wait()
    assert ("playback", "voicemail/vm-record_message.wav") in call.apps and call.recordings
    original = wait_for(lambda: (i := interaction(store, call.uuid))["state"] == "closed" and i)
    assert original["outcome"] == "voicemail"
    message = wait_for(lambda: interaction(store, f"{call.uuid}:voicemail"), what="the voicemail committed")
    assert message["state"] == "queued" and message["customer_id"] == original["customer_id"]
    with store.transaction() as conn:
        filename, content = conn.execute(
            """SELECT a.filename, a.content FROM attachments a JOIN messages m ON m.id = a.message_id
               WHERE m.external_id = %s""", (f"{call.uuid}:voicemail",)).fetchone()
    assert filename == f"{call.uuid}.wav" and bytes(content)[:4] == b"RIFF"


def test_a_caller_who_hangs_up_during_the_recording_still_leaves_the_message(start_engine, switch, store, tmp_path):
    switch.record_s = 5
    engine, _ = _after_hours_engine(start_engine, tmp_path)
    call = switch.call(engine["outbound"], "+86 138 0013 8009")
    wait_for(lambda: [a for a, _ in call.apps if a == "record"], what="recording")
    call.hang_up()
    call.wait()
    message = wait_for(lambda: interaction(store, f"{call.uuid}:voicemail"), what="the voicemail committed")
    assert message["state"] == "queued"


def test_calls_waiting_when_the_engine_is_killed_are_taken_back_after_its_restart(start_engine, switch, routing,
                                                                                   store):
    first = start_engine("")
    calls = [switch.call(first["outbound"], f"+86 138 0013 81{n:02d}") for n in range(3)]
    waiting = [wait_for(lambda c=c: interaction(store, c.uuid), what="queued") for c in calls]
    wait_for(lambda: all(c.application == "playback" for c in calls), what="music on hold for every caller")
    first["proc"].kill()  # SIGKILL: no goodbye to anyone
    first["proc"].wait()
    # the music the engine started plays on (as on the real switch): nothing parks yet
    assert not any(c.parked for c in calls) and all(c.application == "playback" for c in calls)

    second = start_engine("", outbound=first["outbound"][1])
    wait_for(lambda: all(c.transfers == 1 and not c.parked for c in calls), what="the calls handed back")
    assert not any(c.ended.is_set() for c in calls)  # nobody was dropped
    routing.set_available(routing.agent_id("alice"))
    first_in_line = min(range(3), key=lambda n: (waiting[n]["queued_at"], waiting[n]["id"]))
    wait_for(lambda: calls[first_in_line].bridged_to == "alice", what="the first in line reaches alice")
    again = wait_for(lambda: (i := interaction(store, calls[first_in_line].uuid))["state"] == "active" and i,
                     what="accepted")
    assert again["id"] == waiting[first_in_line]["id"]  # the same interaction, not a new one
    with store.transaction() as conn:
        per_call = conn.execute(
            "SELECT count(DISTINCT interaction_id) FROM messages WHERE external_id = ANY(%s)",
            ([c.uuid for c in calls],)).fetchone()[0]
    assert per_call == 3
    assert get_health(second["web"])[1]["adapters"]["pbx"]["detail"]["reclaimed"] == 3
    for call in calls:
        call.hang_up()
        call.wait()


def test_a_caller_who_hangs_up_in_the_menu_is_still_on_record(start_engine, switch, store):
    call = _at_the_menu(start_engine, switch, "+86 138 0013 8010")
    call.hang_up()
    call.wait()
    record = wait_for(lambda: interaction(store, call.uuid), what="the call on record")
    assert record["state"] == "closed"


def test_a_caller_hanging_up_at_once_is_abandoned_not_lost(engine, switch, store):
    for n in range(5):  # hang-ups land at every step between answer and the music
        call = switch.call(engine["outbound"], f"+86 138 0013 82{n:02d}")
        wait_for(lambda c=call: c.answered.is_set(), what="answered")
        gevent.sleep(0.002 * n)
        call.hang_up("ORIGINATOR_CANCEL")
        call.wait()
        gone = wait_for(lambda c=call: (i := interaction(store, c.uuid)) and i["state"] == "closed" and i,
                        what=f"call {n} closed")
        assert gone["outcome"] == "abandoned"


def test_a_call_talking_when_the_engine_died_is_closed_properly_after_the_conversation(start_engine, switch,
                                                                                        routing, store):
    first = start_engine("")
    routing.set_available(routing.agent_id("alice"))
    call = switch.call(first["outbound"], "+86 138 0013 8300")
    wait_for(lambda: call.bridged_to == "alice", what="talking to alice")
    talking = wait_for(lambda: (i := interaction(store, call.uuid))["state"] == "active" and i, what="accepted")
    first["proc"].kill()
    first["proc"].wait()
    start_engine("", outbound=first["outbound"][1])
    gevent.sleep(0.5)
    assert call.bridged_to == "alice" and call.transfers == 0  # a conversation is not interrupted
    call.agent_hangs_up()  # the conversation ends; the dialplan parks the call; the engine takes it back
    call.wait()
    assert call.transfers == 1 and call.hangup_cause == "NORMAL_CLEARING"
    taken_back = max(i for i, (app, _) in enumerate(call.apps) if app == "answer")
    assert taken_back > 0 and "playback" not in [app for app, _ in call.apps[taken_back:]]  # no music after talking
    done = wait_for(lambda: (i := interaction(store, call.uuid))["state"] == "wrap_up" and i, what="wrap-up")
    assert done["id"] == talking["id"] and done["login"] == "alice"


def test_two_freeswitch_nodes_feed_one_queue(tmp_path, db_url, switch, routing, store):
    """Two voice adapter files, one per switch: calls from both wait in one line and reach agents."""
    second_switch = FakeSwitch().start()
    try:
        engine = start_voice_engine(tmp_path, db_url, switch, "", "")
        other_outbound = free_port()
        (tmp_path / "channels" / "pbx2.toml").write_text(
            f'kind = "voice"\noutbound_bind = "127.0.0.1:{other_outbound}"\nesl_port = {second_switch.port}\nring_s = 5\n')
        assert stop(engine["proc"]) == 0  # restart with both files
        engine = start_voice_engine(tmp_path, db_url, switch, "", "")
        try:
            wait_for(lambda: second_switch.commands[:1] == ["auth ClueCon"], what="the second switch logged in to")
            calls = [switch.call(engine["outbound"], "+86 138 0013 8400"),
                     second_switch.call(("127.0.0.1", other_outbound), "+86 138 0013 8401")]
            for call in calls:
                wait_for(lambda c=call: interaction(store, c.uuid), what="queued")
            routing.set_available(routing.agent_id("alice"))
            routing.set_available(routing.agent_id("bob"))
            wait_for(lambda: sorted(c.bridged_to or "" for c in calls) == ["alice", "bob"], what="both bridged")
            health = get_health(engine["web"])[1]["adapters"]
            assert health["pbx"]["ok"] and health["pbx2"]["ok"]
            for call in calls:
                call.hang_up()
                call.wait()
        finally:
            assert stop(engine["proc"]) == 0
    finally:
        second_switch.stop()


def test_a_caller_who_hangs_up_while_the_agent_phone_rings_is_abandoned_without_blaming_the_agent(
        engine, switch, routing, store):
    switch.ring_s = 2.0
    routing.set_available(routing.agent_id("alice"))
    call = switch.call(engine["outbound"], "+86 138 0013 8500")
    wait_for(lambda: call.rang == ["alice"], what="alice's phone ringing")
    call.hang_up("ORIGINATOR_CANCEL")
    call.wait()
    gone = wait_for(lambda: (i := interaction(store, call.uuid))["state"] == "closed" and i, what="abandoned")
    assert gone["outcome"] == "abandoned"
    assert "offer_withdrawn" in kinds(store, gone["id"]) and "offer_rejected" not in kinds(store, gone["id"])
    status = routing.status(routing.agent_id("alice"))
    assert status.missed_offers == 0 and status.loads[0] == 0
