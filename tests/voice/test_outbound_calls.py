"""Per-call control on the outbound socket, against simulated calls."""

from __future__ import annotations

import gevent
import pytest

from cic_engine.esl.outbound import CallGone, OutboundCall, OutboundServer
from cic_engine.esl.protocol import FrameReader, parse_event
from tests.fakeswitch.calls import CAPTURE, EVENT_TEMPLATES

pytestmark = pytest.mark.timeout(60)


def serve(handler) -> OutboundServer:
    server = OutboundServer(("127.0.0.1", 0), handler, command_timeout_s=3)
    server.start()
    return server


def test_a_call_is_answered_asked_for_a_digit_and_hung_up(switch):
    seen = {}

    def ivr(call: OutboundCall) -> None:
        seen["caller"], seen["destination"] = call.caller_number, call.destination
        call.run("answer")
        done = call.run("play_and_get_digits", "1 1 2 3000 # ivr/menu.wav ivr/invalid.wav cic_digit \\d")
        seen["digit"] = done.get("variable_cic_digit")
        call.run("playback", "ivr/thanks.wav")
        call.hangup()

    server = serve(ivr)
    call = switch.call(("127.0.0.1", server.port), "+8613800138000", destination="4001")
    gevent.sleep(0.1)
    call.press("5")
    call.wait()
    server.stop()
    assert seen == {"caller": "+8613800138000", "destination": "4001", "digit": "5"}
    assert [app for app, _ in call.apps] == ["answer", "play_and_get_digits", "playback"]
    assert call.hangup_cause == "NORMAL_CLEARING"


def test_caller_hanging_up_ends_the_waiting_application_at_once(switch):
    outcome = {}

    def queue(call: OutboundCall) -> None:
        call.run("answer")
        try:
            call.run("playback", "local_stream://moh", timeout=10)
        except CallGone as exc:
            outcome["gone"] = str(exc)
            outcome["cause"] = call.hangup_cause

    server = serve(queue)
    call = switch.call(("127.0.0.1", server.port), "+8613800138001")
    assert call.answered.wait(5)
    gevent.sleep(0.1)
    started = gevent.get_hub().loop.now()
    call.hang_up("ORIGINATOR_CANCEL")
    call.wait()
    with gevent.Timeout(5):
        while "gone" not in outcome:
            gevent.sleep(0.01)
    assert outcome["cause"] == "ORIGINATOR_CANCEL"
    assert gevent.get_hub().loop.now() - started < 2
    server.stop()


def test_the_hangup_cause_is_known_when_the_linger_notice_comes_before_the_hangup_events(switch):
    """The real switch sends its linger notice as the channel goes down, at times before the
    hangup events: the call still learns why it ended, and is not taken for a lost socket."""
    switch.notice_before_hangup_events = True
    outcome = {}

    def queue(call: OutboundCall) -> None:
        call.run("answer")
        try:
            call.run("playback", "local_stream://moh", timeout=10)
        except CallGone:
            outcome["cause"] = call.hangup_cause
        outcome["lost"] = call.lost

    server = serve(queue)
    call = switch.call(("127.0.0.1", server.port), "+8613800138003")
    assert call.answered.wait(5)
    gevent.sleep(0.1)
    call.hang_up("USER_BUSY")
    call.wait()
    with gevent.Timeout(5):
        while "lost" not in outcome:
            gevent.sleep(0.01)
    assert outcome == {"cause": "USER_BUSY", "lost": False}
    server.stop()


def test_music_on_hold_is_stopped_to_run_the_next_application(switch):
    def queue(call: OutboundCall) -> None:
        call.run("answer")
        moh = call.start("playback", "local_stream://moh")
        gevent.sleep(0.1)
        call.stop_media()
        assert moh.get(timeout=5).get("Application-Response") == "FILE PLAYED"
        call.run("playback", "ivr/agent-found.wav")
        call.hangup()

    server = serve(queue)
    call = switch.call(("127.0.0.1", server.port), "+8613800138002")
    call.wait()
    server.stop()
    assert [app for app, _ in call.apps] == ["answer", "playback", "playback"]


def test_the_simulated_outbound_session_has_freeswitchs_shape(switch):
    """The captured session's commands, through our OutboundCall, against the simulator: the
    same replies and the same events, with the same headers, as the real switch sent."""
    def scripted(call: OutboundCall) -> None:
        call.subscribe("DTMF", "CHANNEL_EXECUTE", "CHANNEL_EXECUTE_COMPLETE")
        call.run("answer")
        call.run("play_and_get_digits", "1 1 2 3000 # tone_stream://%(100,100,350) silence_stream://250 cic_digit \\d")
        call.run("playback", "tone_stream://%(200,100,440);loops=2")
        call.hangup()

    server = serve(scripted)
    call = switch.call(("127.0.0.1", server.port), "02125550100")
    gevent.sleep(0.1)
    call.press("5")
    call.wait()
    server.stop()

    ours = FrameReader().feed(b"".join(call.replies))
    theirs = FrameReader().feed(CAPTURE.read_bytes())

    def shape(frames):
        out = []
        for f in frames:
            if f.content_type == "text/event-plain":
                event = parse_event(f)
                if event.name in ("CHANNEL_EXECUTE", "CHANNEL_EXECUTE_COMPLETE", "CHANNEL_ANSWER", "DTMF",
                                  "CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE"):
                    out.append((event.name, event.get("Application")))
            else:
                out.append((f.content_type, f.reply_text[:3]))
        return out

    # the real switch also sent PARK/UNPARK/STATE events and the socket app's own completion
    assert shape(ours) == [s for s in shape(theirs) if s != ("CHANNEL_EXECUTE_COMPLETE", "socket")]
    # the connect reply: the channel's data (ours also carries what the shipped dialplan sets)
    assert [h for h in ours[0].headers if not h.startswith("variable_cic_")] == list(theirs[0].headers)
    for frame in ours:
        if frame.content_type == "text/event-plain":
            event = parse_event(frame)
            template = list(dict.fromkeys(k for k, _ in EVENT_TEMPLATES[event.name]))
            assert list(event.headers)[:len(template)] == template  # FreeSWITCH's headers, in its order
