"""The SMPP session against an independent SMSC implementation (smpp34's Rust server, in its
own process): long messages both ways, delivery receipts, throttling, an SMSC restart."""

from __future__ import annotations

import time

import gevent
import pytest

from cic_engine.sms import alphabet, receipts, segments
from cic_engine.sms.smpp import ESME_ROK, ESME_RX_T_APPN, SmppLink, SubmitFailed

pytestmark = pytest.mark.timeout(60)



def off_hub(fn, *args, **kwargs):
    """A blocking call to the test SMSC's control port, from a thread, so the link keeps running."""
    return gevent.get_hub().threadpool.apply(fn, args, kwargs)


def bound_both_ways(link, smsc) -> None:
    """Our side has its bind answer; wait until the SMSC has the session too (it registers it
    just after answering), before asking it to deliver."""
    assert link.bound.wait(10), link.last_error
    deadline = time.monotonic() + 10
    while off_hub(smsc.ask, cmd="bound")["sessions"] != ["cic"]:
        assert time.monotonic() < deadline, "the SMSC never listed the session"
        gevent.sleep(0.05)


@pytest.fixture
def link(smsc):
    inbound = []

    def take(message):
        inbound.append(message)
        return ESME_ROK
    link = SmppLink("127.0.0.1", smsc.port, "cic", "secret", take, per_second=200, enquire_link_s=2, timeout_s=5)
    link.inbound = inbound
    link.start()
    bound_both_ways(link, smsc)
    yield link
    link.stop()


def test_a_long_chinese_message_goes_out_in_parts_and_its_receipt_comes_back(link, smsc):
    off_hub(smsc.ask, cmd="receipts", stat="DELIVRD")
    text = "您的包裹已发出，预计明天送达。" * 10  # 150 characters: UCS-2, 3 parts
    ids = link.submit(segments.split(text, reference=77), "10086", "8613800138000")
    assert len(ids) == 3
    submits = off_hub(smsc.submits)
    assert [(s["data_coding"], s["esm_class"], s["registered_delivery"]) for s in submits] == [(8, 0x40, 1)] * 3
    bodies = [bytes.fromhex(s["body_hex"]) for s in submits]
    parts = [segments.read_part(b, 0x40) for b in bodies]
    assert [(p.reference, p.total, p.seq) for p, _ in parts] == [(77, 3, 1), (77, 3, 2), (77, 3, 3)]
    assert alphabet.decode(8, b"".join(payload for _, payload in parts))[0] == text
    gevent.sleep(0.5)
    dlrs = [receipts.parse(m.short_message, m.tlvs) for m in link.inbound if receipts.is_receipt(m.esm_class)]
    assert sorted(r.message_id for r in dlrs) == sorted(ids) and {r.outcome for r in dlrs} == {"delivered"}


def test_parts_from_the_smsc_are_read_back_into_one_message(link, smsc):
    sent = segments.split("退" * 100, reference=5)
    for part in reversed(sent.parts):  # out of order, as networks deliver them
        assert off_hub(smsc.deliver, "8613800138000", "10086", part, data_coding=8, esm_class=0x40) == ESME_ROK
    got = {segments.read_part(m.short_message, m.esm_class)[0].seq: m for m in link.inbound}
    assert sorted(got) == [1, 2]
    body = b"".join(segments.read_part(got[n].short_message, 0x40)[1] for n in (1, 2))
    assert alphabet.decode(got[1].data_coding, body)[0] == "退" * 100
    assert got[1].source == "+8613800138000"  # TON 1: international


def test_throttling_is_retried_and_a_final_refusal_says_why(link, smsc):
    off_hub(smsc.ask, cmd="throttle", n=2)
    assert len(link.submit(segments.split("hello", 1), "10086", "8613800138000")) == 1
    assert [s["answer"] for s in off_hub(smsc.submits)] == ["throttled", "throttled", "accepted"]
    off_hub(smsc.ask, cmd="throttle", n=99)
    with pytest.raises(SubmitFailed, match="0x58") as failed:
        link.submit(segments.split("hello", 1), "10086", "8613800138000")
    assert failed.value.temporary


def test_a_message_the_engine_cannot_take_is_left_to_the_smsc_to_resend(smsc):
    def broken(message):
        raise RuntimeError("database down")
    link = SmppLink("127.0.0.1", smsc.port, "cic", "secret", broken, timeout_s=5)
    link.start()
    try:
        bound_both_ways(link, smsc)
        assert off_hub(smsc.deliver, "8613800138000", "10086", b"hello") == ESME_RX_T_APPN
    finally:
        link.stop()


def test_the_link_binds_again_after_the_smsc_restarts(link, smsc):
    off_hub(smsc.restart)
    gevent.sleep(0.2)
    assert link.bound.wait(15), link.last_error
    assert link.submit(segments.split("after the restart", 1), "10086", "8613800138000")
    assert link.binds >= 2


def test_deliveries_are_taken_several_at_once_each_answered_once(link, smsc):
    result = off_hub(smsc.ask, cmd="flood", n=300, destination="10086", text="flood", window=10)
    assert result["ok"] == 300
    texts = sorted(m.short_message for m in link.inbound)
    assert texts == sorted(f"flood {i}".encode() for i in range(300))
