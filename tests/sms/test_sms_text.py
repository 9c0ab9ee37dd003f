"""SMS text without I/O: GSM 03.38 or UCS-2, long messages split and put together again,
delivery receipts, opt-out keywords."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cic_engine.sms import alphabet, keywords, receipts, segments


def reassemble(out: segments.Outgoing) -> str:
    parts = [segments.read_part(p, out.esm_class) for p in out.parts]
    if len(parts) > 1:
        assert [p.seq for p, _ in parts] == list(range(1, len(parts) + 1))
        assert {(p.reference, p.total) for p, _ in parts} == {(parts[0][0].reference, len(parts))}
    text, problem = alphabet.decode(out.data_coding, b"".join(payload for _, payload in parts))
    assert problem is None
    return text


def test_the_gsm_table_is_the_standard_one():
    assert len(alphabet.GSM_BASIC) == 128
    assert [alphabet.GSM_BASIC[i] for i in (0x00, 0x02, 0x11, 0x24, 0x40, 0x5B, 0x5F, 0x60, 0x7F)] == [
        "@", "$", "_", "¤", "¡", "Ä", "§", "¿", "à"]


def test_plain_text_is_gsm_and_fits_160_characters():
    out = segments.split("Your parcel 1234 leaves today. Reply STOP to opt out." + "." * 107, reference=7)
    assert (out.data_coding, out.esm_class, len(out.parts), len(out.parts[0])) == (0, 0, 1, 160)


def test_extension_characters_count_twice_and_are_never_split():
    text = "€" * 77  # 154 octets: one message
    assert len(segments.split(text, 1).parts) == 1
    long = "ab" + "€" * 80  # 162 octets: two parts; the 153-octet limit falls inside an ESC pair
    out = segments.split(long, 1)
    assert [len(p) - 6 for p in out.parts] == [152, 10]
    assert all(not p.endswith(b"\x1b") for p in out.parts)
    assert reassemble(out) == long


def test_chinese_is_ucs2_70_characters_a_message_67_a_part():
    assert segments.split("您好" * 35, 1).data_coding == alphabet.DC_UCS2
    assert len(segments.split("您好" * 35, 1).parts) == 1
    out = segments.split("您" * 135, reference=300)
    assert (out.esm_class, len(out.parts)) == (segments.ESM_UDHI, 3)
    assert out.parts[0][:6] == bytes((5, 0, 3, 300 % 256, 3, 1))
    assert [len(p) - 6 for p in out.parts] == [134, 134, 2]
    assert reassemble(out) == "您" * 135


def test_an_emoji_is_never_cut_in_half():
    text = "x" * 66 + "😀" + "y" * 100  # the surrogate pair straddles the 134-octet part limit
    out = segments.split(text, 9)
    for part in out.parts:
        payload = part[6:]
        assert alphabet.decode(alphabet.DC_UCS2, payload)[1] is None
    assert reassemble(out) == text


def test_a_retry_sends_the_same_set():
    assert segments.split("长" * 200, 42) == segments.split("长" * 200, 42)


def test_too_long_is_refused_with_a_reason():
    with pytest.raises(segments.MessageTooLong, match="at most 255"):
        segments.split("长" * (67 * 256), 1)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=700), st.integers(min_value=0, max_value=10_000))
def test_any_text_comes_back_whole(text, reference):
    out = segments.split(text, reference)
    assert all(len(p) <= 140 or (out.data_coding == 0 and len(p) <= 160) for p in out.parts)
    assert reassemble(out) == text


def test_a_replacement_character_the_sender_wrote_is_text_and_a_lone_surrogate_a_problem():
    assert alphabet.decode(alphabet.DC_UCS2, "\ufffd ok".encode("utf-16-be")) == ("\ufffd ok", None)
    assert alphabet.decode(alphabet.DC_UCS2, b"\xd8\x00\x00A") == ("\ufffdA", "UCS-2 body with invalid code units")


def test_parts_with_a_16_bit_reference_other_elements_or_sar_tlvs_are_read():
    udh16 = bytes((6, 0x08, 4, 0x12, 0x34, 2, 1)) + "hi".encode("utf-16-be")
    assert segments.read_part(udh16, 0x40) == (segments.Part(0x1234, 2, 1), "hi".encode("utf-16-be"))
    with_port = bytes((11, 0x05, 4, 0x0B, 0x84, 0x23, 0xF0, 0x00, 3, 9, 2, 2)) + b"yo"
    assert segments.read_part(with_port, 0x40) == (segments.Part(9, 2, 2), b"yo")
    sar = {segments.SAR_MSG_REF_NUM: b"\x01\x00", segments.SAR_TOTAL_SEGMENTS: b"\x03", segments.SAR_SEGMENT_SEQNUM: b"\x02"}
    assert segments.read_part(b"middle", 0, sar) == (segments.Part(256, 3, 2), b"middle")
    # A header that does not add up, or a part number out of range, is not a part.
    assert segments.read_part(bytes((9, 0, 3)) + b"x", 0x40)[0] is None
    assert segments.read_part(bytes((5, 0, 3, 1, 2, 3)) + b"x", 0x40)[0] is None


def test_bodies_that_do_not_decode_are_replaced_and_flagged_never_raised():
    assert alphabet.decode(alphabet.DC_UCS2, b"\x4f\x60\x59") == ("你\ufffd", "UCS-2 body with an odd number of octets")
    assert alphabet.decode(alphabet.DC_UCS2, b"\xd8\x3d")[1] == "UCS-2 body with invalid code units"
    assert alphabet.decode(alphabet.DC_GSM, b"A\x1b\x65\x1b\x01\x80") == (
        "A€\ufffd\ufffd", "octet 0x80 is not in the GSM alphabet")
    assert alphabet.decode(0x04, b"\xff") == ("ÿ", "data_coding 0x04 is not one the engine reads; taken as Latin-1")


def test_delivery_receipts_in_text_and_in_tlvs():
    text = b"id:0A1B2C sub:001 dlvrd:001 submit date:2611221030 done date:2611221031 stat:DELIVRD err:000 text:Hello"
    receipt = receipts.parse(text)
    assert receipt == receipts.Receipt("0A1B2C", "DELIVRD", None) and receipt.outcome == "delivered"
    failed = receipts.parse(b"id:77 stat:UNDELIV err:034")
    assert (failed.outcome, failed.error) == ("failed", "034")
    tlv = receipts.parse(b"", {receipts.RECEIPTED_MESSAGE_ID: b"abc\0", receipts.MESSAGE_STATE: b"\x05"})
    assert (tlv.message_id, tlv.stat, tlv.outcome) == ("abc", "UNDELIV", "failed")
    assert receipts.parse(b"no receipt here") is None
    assert receipts.is_receipt(0x04) and not receipts.is_receipt(0x40)
    assert receipts.normal_id("0000001A") in receipts.id_forms("26")  # decimal in the receipt, hex in the answer
    assert receipts.normal_id("26") in receipts.id_forms("0x1A".removeprefix("0x"))


@pytest.mark.parametrize(("text", "expected"), [
    ("STOP", "opt-out"), (" stop! ", "opt-out"), ("ＳＴＯＰ", "opt-out"), ("退订", "opt-out"), ("td", "opt-out"),
    ("start", "opt-in"), ("please don't stop the delivery", None), ("TD 123", None), ("", None),
])
def test_opt_out_keywords(text, expected):
    assert keywords.keyword(text) == expected
