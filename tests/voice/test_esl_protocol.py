"""Our event-socket parser against FreeSWITCH's own bytes (shared/fixtures/esl), and against
bytes no FreeSWITCH would send."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cic_engine.esl.protocol import (
    MAX_HEADER_BLOCK,
    CommandError,
    ESLProtocolError,
    FrameReader,
    command,
    execute,
    parse_event,
    sendmsg,
)

CAPTURES = Path(__file__).resolve().parents[1] / "fakeswitch" / "captures"
FILES = sorted(CAPTURES.glob("*.esl"))


def frames_of(data: bytes):
    return FrameReader().feed(data)


def events_of(data: bytes):
    return [parse_event(f) for f in frames_of(data) if f.content_type.startswith("text/event")]


def test_the_reference_captures_are_there():
    assert {f.name for f in FILES} >= {"inbound-plain.esl", "inbound-json.esl", "outbound-socket.esl", "fax.esl",
                                       "api-edges.esl", "auth-rejected.esl"}


@pytest.mark.parametrize("capture", FILES, ids=lambda p: p.name)
def test_every_capture_parses_the_same_whole_and_a_byte_at_a_time(capture):
    data = capture.read_bytes()
    whole = frames_of(data)
    reader, trickled = FrameReader(), []
    for i in range(len(data)):
        trickled += reader.feed(data[i:i + 1])
    assert trickled == whole and reader.pending == 0
    # every message on the wire starts with its header block: as many frames as blocks with a Content-Type
    assert len(whole) == sum(1 for f in whole if f.content_type) and len(whole) > 2
    for frame in whole:
        if frame.content_type.startswith("text/event"):
            assert parse_event(frame).name


def test_plain_and_json_events_carry_the_same_headers():
    plain = events_of((CAPTURES / "inbound-plain.esl").read_bytes())
    as_json = events_of((CAPTURES / "inbound-json.esl").read_bytes())
    assert [e.name for e in plain] == [e.name for e in as_json]
    assert len(plain) == 34 and plain[0].name == "CHANNEL_CREATE"
    for p, j in zip(plain, as_json, strict=True):
        assert set(p.headers) == set(j.headers)
        assert p.headers["FreeSWITCH-IPv6"] == j.headers["FreeSWITCH-IPv6"] == "fd00::2"  # %3A decoded


def test_background_job_result_is_the_event_body():
    jobs = [e for e in events_of((CAPTURES / "api-edges.esl").read_bytes()) if e.name == "BACKGROUND_JOB"]
    assert jobs[0].body == "-ERR NORMAL_CLEARING\n"
    assert jobs[0].headers["Job-UUID"] == "11111111-2222-3333-4444-555555555555"
    assert jobs[0].headers["Job-Command-Arg"] == "loopback/no_such_extension_xyz/default &park()"


def test_outbound_connect_reply_carries_the_channel_data_decoded():
    connect = frames_of((CAPTURES / "outbound-socket.esl").read_bytes())[0]
    assert connect.content_type == "command/reply" and connect.reply_text == "+OK\n"
    assert connect.headers["Channel-Destination-Number"] == "cap_socket"
    assert connect.headers["Channel-Callee-ID-Name"] == "Outbound Call"
    assert connect.headers["Unique-ID"] == connect.headers["Channel-Unique-ID"]


def test_fax_results_are_custom_events_with_their_subclass():
    events = events_of((CAPTURES / "fax.esl").read_bytes())
    results = {e.subclass: e for e in events if e.name == "CUSTOM"}
    assert "spandsp::rxfaxresult" in results
    assert results["spandsp::rxfaxresult"].headers["fax-success"] == "1"


def test_api_response_and_disconnect_notice_bodies_are_sized_in_bytes():
    frames = frames_of((CAPTURES / "api-edges.esl").read_bytes())
    api = [f for f in frames if f.content_type == "api/response"]
    assert api[0].body == b"-ERR No such channel!\n"
    notice = frames_of((CAPTURES / "auth-rejected.esl").read_bytes())[-1]
    assert notice.content_type == "text/disconnect-notice"


def _plain(headers: str, body: bytes = b"") -> bytes:
    inner = headers.encode() + b"\n\n" + body
    return b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % len(inner) + inner


def test_an_encoded_newline_in_a_caller_name_cannot_forge_a_header():
    data = _plain("Event-Name: CHANNEL_CREATE\nUnique-ID: real\nCaller-Caller-ID-Name: Eve%0AUnique-ID%3A%20forged")
    (event,) = events_of(data)
    assert event.uuid == "real"
    assert event.headers["Caller-Caller-ID-Name"] == "Eve\nUnique-ID: forged"


def test_lengths_count_bytes_so_a_multibyte_name_does_not_eat_the_next_frame():
    body = json.dumps({"Event-Name": "CHANNEL_CREATE", "Caller-Caller-ID-Name": "王小明", "_body": "你好"},
                      ensure_ascii=False).encode()
    data = b"Content-Length: %d\nContent-Type: text/event-json\n\n" % len(body) + body
    data += b"Content-Type: command/reply\nReply-Text: +OK\n\n"
    frames = frames_of(data)
    assert [f.content_type for f in frames] == ["text/event-json", "command/reply"]
    event = parse_event(frames[0])
    assert (event.headers["Caller-Caller-ID-Name"], event.body) == ("王小明", "你好")


@pytest.mark.parametrize(("data", "fragment"), [
    (b"Content-Length: abc\nContent-Type: api/response\n\n", "bad Content-Length"),
    (b"Content-Length: -5\nContent-Type: api/response\n\n", "bad Content-Length"),
    (b"Content-Length: 99999999999\nContent-Type: api/response\n\n", "over the"),
    (b"Content-Type command/reply\n\n", "not a header line"),
    (b"Content-Type: command/reply\nReply-Text: \xff\xfe\n\n", "not UTF-8"),
    (b"\n\n", "empty header block"),
    (b"X" * (MAX_HEADER_BLOCK + 10), "no end of headers"),
])
def test_garbage_on_the_wire_is_one_clear_protocol_error(data, fragment):
    with pytest.raises(ESLProtocolError, match=fragment):
        frames_of(data)


@pytest.mark.parametrize(("frame_bytes", "fragment"), [
    (b"Content-Length: 5\nContent-Type: text/event-json\n\n{nope", "not JSON"),
    (b"Content-Length: 2\nContent-Type: text/event-json\n\n[]", "without Event-Name"),
    (_plain("Unique-ID: x"), "without Event-Name"),
    (_plain("Event-Name: X\nContent-Length: 10", b"short"), "Content-Length says 10"),
    (b"Content-Length: 2\nContent-Type: text/x-unknown\n\nhi", "not an event"),
])
def test_a_broken_event_is_one_clear_protocol_error(frame_bytes, fragment):
    (frame,) = frames_of(frame_bytes)
    with pytest.raises(ESLProtocolError, match=fragment):
        parse_event(frame)


def test_a_truncated_frame_waits_for_the_rest():
    reader = FrameReader()
    assert reader.feed(b"Content-Length: 10\nContent-Type: api/response\n\n+OK") == []
    (frame,) = reader.feed(b" done!\n")
    assert frame.body == b"+OK done!\n"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_any_bytes_either_parse_or_raise_the_protocol_error(data):
    try:
        for frame in FrameReader().feed(data):
            if frame.content_type.startswith("text/event"):
                assert isinstance(parse_event(frame).headers, dict)
    except ESLProtocolError:
        pass


@pytest.mark.parametrize("capture", FILES, ids=lambda p: p.name)
def test_one_header_read_straight_from_an_event_is_what_the_parsed_headers_say(capture):
    for frame in frames_of(capture.read_bytes()):
        if frame.content_type == "text/event-plain":
            headers = parse_event(frame).headers
            for name, value in headers.items():
                assert parse_event(frame).get(name) == value, name
            assert parse_event(frame).get("No-Such-Header", "absent") == "absent"
            assert parse_event(frame).get("Unique") is None  # a prefix of Unique-ID is not Unique-ID


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200))
def test_any_caller_name_survives_plain_event_encoding(name):
    from urllib.parse import quote

    (event,) = events_of(_plain(f"Event-Name: CHANNEL_CREATE\nCaller-Caller-ID-Name: {quote(name, safe='')}"))
    assert event.headers["Caller-Caller-ID-Name"] == name


def test_commands_match_what_freeswitch_was_sent_in_the_capture():
    sent = (CAPTURES / "outbound-socket.sent.txt").read_text()
    assert execute(None, "answer").decode() in sent
    assert execute(None, "playback", "tone_stream://%(200,100,440);loops=2").decode() in sent
    assert sendmsg(None, "hangup", hangup_cause="NORMAL_CLEARING").decode().rstrip("\n") in sent
    assert command("bgapi originate loopback/x &park()", {"Job-UUID": "j1"}) == \
        b"bgapi originate loopback/x &park()\nJob-UUID: j1\n\n"


@pytest.mark.parametrize("bad", ["api status\nexit", "evil\r"])
def test_a_command_cannot_smuggle_a_second_command(bad):
    with pytest.raises(CommandError):
        command(bad)
    with pytest.raises(CommandError):
        execute("uuid", "playback", bad)


def test_a_subscription_puts_event_names_before_custom_and_its_subclasses():
    """FreeSWITCH reads every word after CUSTOM as a subclass: a name after them is never sent."""
    from cic_engine.esl.protocol import subscribe

    wire = subscribe("json", ("CUSTOM", "spandsp::rxfaxresult", "CHANNEL_HANGUP_COMPLETE", "BACKGROUND_JOB"))
    assert wire == b"event json CHANNEL_HANGUP_COMPLETE BACKGROUND_JOB CUSTOM spandsp::rxfaxresult\n\n"
    assert subscribe("plain", ["HEARTBEAT", "CHANNEL_PARK"]) == b"event plain HEARTBEAT CHANNEL_PARK\n\n"
