"""Every parser that takes bytes from outside, fed what hypothesis makes up: each returns a
result or raises its own clear error, never anything else, and within a bounded time. (The
ESL reader's own property is in tests/voice/test_esl_protocol.py; here it is fed in pieces.)"""

from __future__ import annotations

import json
import socket
import time
from email.message import EmailMessage

import gevent
import pytest
import smpplib.exceptions
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request
from wsproto import WSConnection
from wsproto.connection import ConnectionType
from wsproto.events import Message as WsMessage
from wsproto.events import Request as WsRequest

from cic_engine.esl.protocol import ESLProtocolError, FrameReader, parse_event
from cic_engine.fax import document, kind_of
from cic_engine.mail.mime import parse
from cic_engine.sms import alphabet, provider, receipts, segments, smpp
from cic_engine.web.app import read_json
from cic_engine.web.errors import HttpError
from cic_engine.web.websocket import SOCKET_KEY, WebSocket

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PER_INPUT_S = 2.0  # far above what any of them takes; a hang or a quadratic blow-up passes it


class Bounded:
    def __enter__(self):
        self.started = time.monotonic()

    def __exit__(self, *exc):
        assert time.monotonic() - self.started < PER_INPUT_S, "took too long for one input"


header_names = st.sampled_from(["From", "To", "Subject", "Content-Type", "Content-Transfer-Encoding", "Message-ID",
                                "Content-Disposition", "In-Reply-To", "References", "Date", "X-Odd"])
header_values = st.one_of(
    st.binary(max_size=120).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")),
    st.sampled_from([b"multipart/mixed; boundary=x", b"multipart/mixed", b"message/rfc822", b"text/plain; charset=gbk",
                     b"text/html; charset=big5", b"base64", b"quoted-printable", b"=?gbk?B?t6LGsS5wZGY=?=",
                     b"attachment; filename*=gb2312''%B7%A2", b"=?utf-8?Q?=E4=?=", b"=?x-unknown?B?!!?="]))
bodies = st.one_of(st.binary(max_size=400), st.sampled_from([b"--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n--x--",
                                                             b"--x\r\n\r\n--x\r\nContent-Type: message/rfc822\r\n\r\n"]))


@FUZZ
@given(st.lists(st.tuples(header_names, header_values), max_size=8), bodies)
def test_mime_parse_reads_any_headers_and_body(headers, body):
    raw = b"".join(name.encode() + b": " + value + b"\r\n" for name, value in headers) + b"\r\n" + body
    with Bounded():
        mail = parse(raw)
    assert isinstance(mail.text, str) and isinstance(mail.subject, str) and mail.message_id


@FUZZ
@given(st.binary(max_size=3000))
def test_mime_parse_reads_any_bytes(raw):
    with Bounded():
        mail = parse(raw)
    assert "\x00" not in mail.subject or mail.problems


@FUZZ
@given(st.binary(max_size=1500), st.lists(st.integers(min_value=1, max_value=200), max_size=20))
def test_the_esl_reader_fed_in_pieces_gives_frames_or_its_protocol_error(data, cuts):
    reader = FrameReader()
    at = 0
    with Bounded():
        try:
            for cut in cuts + [len(data)]:
                for frame in reader.feed(data[at:at + cut]):
                    if frame.content_type.startswith("text/event"):
                        assert isinstance(parse_event(frame).headers, dict)
                at += cut
        except ESLProtocolError:
            pass


@FUZZ
@given(st.binary(max_size=300), st.integers(min_value=0, max_value=255), st.integers(min_value=0, max_value=255),
       st.dictionaries(st.sampled_from([0x020C, 0x020E, 0x020F, 0x001E, 0x0427]), st.binary(max_size=4), max_size=4))
def test_sms_payloads_decode_or_say_what_was_wrong(short_message, esm_class, data_coding, tlvs):
    with Bounded():
        part, payload = segments.read_part(short_message, esm_class, tlvs)
        text, problem = alphabet.decode(data_coding, payload)
        assert isinstance(text, str) and (problem is None or isinstance(problem, str))
        found = receipts.parse(short_message, tlvs)
        assert found is None or isinstance(found.message_id, str)


@FUZZ
@given(st.one_of(st.binary(max_size=400),
                 st.tuples(st.sampled_from([0x00000005, 0x80000004, 0x00000015, 0x80000009, 0x00000006]),
                           st.binary(max_size=300)).map(lambda c: (16 + len(c[1])).to_bytes(4, "big") +
                                                        c[0].to_bytes(4, "big") + bytes(8) + c[1])))
def test_smpp_pdus_parse_or_raise_the_error_the_link_rebinds_on(raw):
    with Bounded():
        try:
            smpp.parse_pdu(raw)
        except smpp.GarbledPdu as exc:
            assert isinstance(exc, smpplib.exceptions.ConnectionError) and "cannot be read" in str(exc)


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                      max_size=4), max_leaves=20)


@FUZZ
@given(st.one_of(st.binary(max_size=500), json_values.map(lambda v: json.dumps(v).encode()),
                 st.integers(min_value=1, max_value=5000).map(lambda n: b"[" * n + b"]" * n)))
def test_the_sms_webhook_body_parses_or_is_refused_with_a_status(body):
    fields = {"id": "id", "from": "from", "to": "to", "text": "text"}
    with Bounded():
        try:
            sms = provider.parse_inbound(body, fields)
            assert isinstance(sms.text, str)
        except provider.WebhookRefused as exc:
            assert exc.status == 400
        try:
            provider.verify("secret", body.decode("latin-1")[:20], body.decode("latin-1")[:64], body, time.time(), 300)
        except provider.WebhookRefused as exc:
            assert exc.status == 401


@FUZZ
@given(st.one_of(st.binary(max_size=500), json_values.map(lambda v: json.dumps(v).encode()),
                 st.integers(min_value=1, max_value=5000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n)))
def test_http_json_bodies_parse_or_are_answered_with_a_client_error(body):
    request = Request(EnvironBuilder(method="POST", data=body, content_type="application/json").get_environ())
    with Bounded():
        try:
            assert isinstance(read_json(request, limit=64 * 1024), dict)
        except HttpError as exc:
            assert 400 <= exc.status < 500


@FUZZ
@given(st.binary(max_size=600))
def test_fax_files_are_sniffed_and_read_or_refused_as_unreadable(data):
    for content in (data, b"II*\x00" + data, b"MM\x00*" + data, b"%PDF-" + data):
        with Bounded():
            assert kind_of(content) in (None, "pdf", "tiff")
            try:
                assert document.read_tiff(content).pages >= 1
            except document.UnreadableFax:
                pass


def _server_socket(peer: socket.socket) -> WebSocket:
    client = WSConnection(ConnectionType.CLIENT)
    handshake = client.send(WsRequest(host="127.0.0.1", target="/chat"))
    head = handshake.split(b"\r\n\r\n", 1)[0].decode().split("\r\n")[1:]
    environ = {"PATH_INFO": "/chat", SOCKET_KEY: peer}
    for line in head:
        name, value = line.split(": ", 1)
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    return WebSocket(environ, max_message_bytes=4096, ping_interval_s=0)


@pytest.mark.timeout(120)
@FUZZ
@given(st.binary(max_size=600))
def test_websocket_frames_give_messages_or_close_the_connection(data):
    ours, theirs = socket.socketpair()
    try:
        ws = _server_socket(ours)
        theirs.recv(65536)  # the handshake's answer
        theirs.sendall(data)
        theirs.shutdown(socket.SHUT_WR)
        with Bounded(), gevent.Timeout(PER_INPUT_S):
            while (message := ws.receive()) is not None:
                assert isinstance(message, str | bytes) and len(message) <= 4096
        assert ws.closed
    finally:
        ours.close()
        theirs.close()


def test_a_fuzzed_mail_keeps_a_chinese_subject_and_attachment_name():
    # One structured case beside the random ones: what the strategies above cannot miss.
    msg = EmailMessage()
    msg["Subject"] = "发票问题"
    msg.set_content("请看附件")
    msg.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="发票.pdf")
    mail = parse(msg.as_bytes())
    assert (mail.subject, mail.text.strip(), [a.filename for a in mail.attachments]) == (
        "发票问题", "请看附件", ["发票.pdf"])
    assert WsMessage  # wsproto's message event type is what receive() assembles
