"""The simulator writes events exactly as FreeSWITCH does: every event of the captures, rebuilt
from its decoded headers by tests/fakeswitch/wire.py, is the same bytes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cic_engine.esl.protocol import FrameReader
from tests.fakeswitch import wire

CAPTURES = Path(__file__).resolve().parents[1] / "fakeswitch" / "captures"


def _raw_messages(data: bytes):
    """(frame, its exact bytes) for every message of a capture."""
    reader, out, offset = FrameReader(), [], 0
    for frame in reader.feed(data):
        head = data.index(b"\n\n", offset) + 2
        end = head + len(frame.body)
        out.append((frame, data[offset:end]))
        offset = end
    return out


def _json_pairs(body: bytes) -> list[tuple[str, str]]:
    return json.loads(body, object_pairs_hook=list)


@pytest.mark.parametrize("capture", sorted(CAPTURES.glob("*.esl")), ids=lambda p: p.name)
def test_every_captured_event_is_rebuilt_byte_for_byte(capture):
    rebuilt = 0
    for frame, raw in _raw_messages(capture.read_bytes()):
        if frame.content_type == "text/event-plain":
            end = frame.body.find(b"\n\n")
            pairs = wire.header_pairs(frame.body[:end])
            body = ""
            if pairs[-1][0] == "Content-Length":
                pairs, body = pairs[:-1], frame.body[end + 2:].decode()
            assert wire.plain_event(pairs, body) == raw
            rebuilt += 1
        elif frame.content_type == "text/event-json":
            pairs = _json_pairs(frame.body)
            body = ""
            if pairs[-1][0] == "_body":
                body, pairs = pairs[-1][1], pairs[:-2]
            assert wire.json_event(pairs, body) == raw
            rebuilt += 1
    assert rebuilt or capture.name == "auth-rejected.esl"


def test_replies_and_notices_are_framed_as_freeswitch_frames_them():
    messages = [raw for _, raw in _raw_messages((CAPTURES / "api-edges.esl").read_bytes())]
    assert wire.message([("Content-Type", "auth/request")]) == messages[0]
    assert wire.command_reply("+OK accepted") == messages[1]
    assert wire.command_reply("+OK Job-UUID: 11111111-2222-3333-4444-555555555555",
                              ("Job-UUID", "11111111-2222-3333-4444-555555555555")) == messages[3]
    assert wire.api_response("-ERR No such channel!\n") == messages[4]
    notice = [raw for _, raw in _raw_messages((CAPTURES / "auth-rejected.esl").read_bytes())][-1]
    frame = FrameReader().feed(notice)[0]
    assert wire.disconnect_notice(frame.body.decode()) == notice


def test_url_encoding_follows_switch_url_unsafe():
    assert wire.url_encode("2026-11-22 15:54:13") == "2026-11-22%2015%3A54%3A13"
    assert wire.url_encode("loopback/x &park()") == "loopback/x%20%26park()"
    assert wire.url_encode("王") == "%E7%8E%8B"


def test_the_simulator_answers_the_captured_session_as_freeswitch_did():
    """The captured inbound session's commands, sent to the simulator: the same replies, byte for
    byte where nothing varies (the status text and job ids do)."""
    import gevent.socket

    from tests.fakeswitch.switch import FakeSwitch

    switch = FakeSwitch().start()
    try:
        sock = gevent.socket.create_connection(("127.0.0.1", switch.port))
        reader, frames = FrameReader(), []

        def until(count: int) -> None:
            while len(frames) < count:
                frames.extend(reader.feed(sock.recv(65536)))

        until(1)
        for cmd in [b"auth ClueCon\n\n", b"api status\n\n", b"api show channels as json\n\n",
                    b"api no_such_command\n\n", b"event plain CHANNEL_CREATE BACKGROUND_JOB\n\n", b"exit\n\n"]:
            sock.sendall(cmd)
            until(len(frames) + (2 if cmd.startswith(b"exit") else 1))
        sock.close()
    finally:
        switch.stop()
    captured = [f for f in FrameReader().feed((CAPTURES / "inbound-plain.esl").read_bytes())
                if not f.content_type.startswith("text/event")]
    captured = captured[:6] + captured[-2:]  # the same commands, without the call in the middle
    assert [f.content_type for f in frames] == [f.content_type for f in captured]
    assert [f.reply_text for f in frames] == [f.reply_text for f in captured]
    for ours, theirs in zip(frames, captured, strict=True):
        assert list(ours.headers) == list(theirs.headers)
    assert frames[4] == captured[4]  # -ERR no_such_command Command not found!
    assert frames[3] == captured[3]  # {"row_count": 0}
    assert frames[-1] == captured[-1]  # the disconnect notice
