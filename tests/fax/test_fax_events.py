"""mod_spandsp's result events, read from the real capture (captures/fax.esl) and from the
simulator, which must write them as FreeSWITCH does."""

from __future__ import annotations

from pathlib import Path

import gevent
import pytest
from gevent import socket

from cic_engine.esl.protocol import FrameReader, parse_event
from cic_engine.fax import document, results
from tests.fakeswitch import fax as simfax
from tests.fakeswitch.switch import FakeSwitch
from tests.fakeswitch.wire import header_pairs

CAPTURE = Path(__file__).resolve().parents[1] / "fakeswitch" / "captures" / "fax.esl"


def captured_events():
    return [parse_event(f) for f in FrameReader().feed(CAPTURE.read_bytes()) if f.content_type == "text/event-plain"]


def test_the_captured_results_read_as_a_two_page_fax_both_ways():
    found = {results.subclass(e): results.outcome(e) for e in captured_events()
             if results.subclass(e) in (results.RX_RESULT, results.TX_RESULT)}
    rx, tx = found[results.RX_RESULT], found[results.TX_RESULT]
    assert (rx.success, rx.code, rx.text, rx.pages, rx.remote_station) == (True, 0, "OK", 2, "CIC-TX")
    assert rx.filename == "/tmp/fs-capture/rx-9f96a5c2-dded-4250-91e0-860f3e4f0595.tif"
    assert rx.uuid == "9f96a5c2-dded-4250-91e0-860f3e4f0595" and rx.destination == "cap_rxfax"
    assert (tx.success, tx.pages, tx.total_pages, tx.remote_station, tx.hangup_cause) == (True, 2, 2, "CIC-RX",
                                                                                         "NORMAL_CLEARING")
    assert tx.summary() == "2 of 2 pages, OK"


@pytest.fixture
def listener():
    """A simulated switch and a client subscribed to the fax events, as the fax adapter is."""
    switch = FakeSwitch().start()
    sock = socket.create_connection(("127.0.0.1", switch.port))
    sock.sendall(b"auth ClueCon\n\n")
    sock.sendall(f"event plain {' '.join(results.FAX_EVENTS)} spandsp::rxfaxpageresult "
                 f"spandsp::rxfaxnegociateresult\n\n".encode())
    frames, reader = [], FrameReader()

    def read():
        while data := sock.recv(65536):
            frames.extend(reader.feed(data))
    greenlet = gevent.spawn(read)
    with gevent.Timeout(5):
        while sum(f.content_type == "command/reply" for f in frames) < 2:  # auth, then the subscription
            gevent.sleep(0.01)
    yield switch, frames
    greenlet.kill()
    sock.close()
    switch.stop()


def _events(frames):
    return [f for f in frames if f.content_type == "text/event-plain"]


def received(switch, spool, pages: int, **options) -> None:
    """A fax in on the simulated line, its events all heard."""
    leg = simfax.receive(switch, "+862155550100", "+861065520001", str(spool), simfax.fax_pages(pages), **options)
    leg.greenlet.join(10)
    gevent.sleep(0.2)


def test_the_simulators_events_have_the_captured_headers_in_the_captured_order(listener, tmp_path):
    switch, frames = listener
    received(switch, tmp_path, 2, station="+86 21 5555 0100")
    captured = {}
    for frame in FrameReader().feed(CAPTURE.read_bytes()):
        if frame.content_type == "text/event-plain":
            names = [n for n, _ in header_pairs(frame.body[: frame.body.find(b"\n\n")])]
            captured.setdefault(parse_event(frame).get("Event-Subclass"), names)
    seen = []
    for frame in _events(frames):
        names = [n for n, _ in header_pairs(frame.body[: frame.body.find(b"\n\n")])]
        subclass = parse_event(frame).get("Event-Subclass")
        seen.append(subclass)
        assert names == [n for n in captured[subclass] if n not in simfax.LOOPBACK_ONLY], subclass
    assert seen == ["spandsp::rxfaxnegociateresult", "spandsp::rxfaxpageresult", "spandsp::rxfaxpageresult",
                    "spandsp::rxfaxresult"]
    rx = results.outcome(parse_event(_events(frames)[-1]))
    assert (rx.success, rx.pages, rx.caller, rx.destination, rx.remote_station) == (
        True, 2, "+862155550100", "+861065520001", "+86 21 5555 0100")
    written = document.read_tiff(Path(rx.filename).read_bytes())
    assert (written.pages, written.compression, written.dpi, written.station_id) == (
        2, "group3", (204.0, 196.0), "+86 21 5555 0100")


def test_a_sender_hanging_up_after_one_page_is_a_partial_fax_with_spandsps_code(listener, tmp_path):
    switch, frames = listener
    received(switch, tmp_path, 3, outcome="dropped")
    rx = results.outcome(parse_event(_events(frames)[-1]))
    assert (rx.success, rx.code, rx.text, rx.pages, rx.partial) == (False, 49, "The call dropped prematurely", 1, True)
    assert document.read_tiff(Path(rx.filename).read_bytes()).pages == 1
