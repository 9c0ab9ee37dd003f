"""Mail as real clients write it, read as mail clients show it: a multipart whose boundary is
missing or folded, a forwarded mail, encoded attachment names, raw 8-bit headers in several
charsets, and nesting past any sensible depth."""

from __future__ import annotations

import base64

import pytest

from cic_engine.mail.mime import parse

HEAD = b"From: Wang Fang <wang@example.cn>\r\nTo: support@example.com\r\nMessage-ID: <x@example.cn>\r\n"


def mixed(*parts: bytes, boundary: bytes = b"b") -> bytes:
    return (HEAD + b'Subject: t\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="' + boundary +
            b'"\r\n\r\n' + b"".join(b"--" + boundary + b"\r\n" + p + b"\r\n" for p in parts) + b"--" + boundary +
            b"--\r\n")


def test_a_multipart_without_a_boundary_keeps_its_text():
    mail = parse(HEAD + b"Subject: t\r\nContent-Type: multipart/mixed\r\n\r\nBlah blah\r\n")
    assert mail.text == "Blah blah\n" and "its content is kept as text" in "; ".join(mail.problems)


def test_a_multipart_whose_boundary_is_folded_is_split_by_the_boundary_its_body_uses():
    raw = (HEAD + b'Subject: t\r\nContent-Type: multipart/mixed; boundary="----=_Part_0\r\n _1"\r\n\r\n'
           b"------=_Part_0_1\r\nContent-Type: text/plain\r\n\r\nBlah blah\r\n"
           b"------=_Part_0_1\r\nContent-Type: application/pdf; name=a.pdf\r\n\r\nPDF\r\n------=_Part_0_1--\r\n")
    mail = parse(raw)
    assert mail.text == "Blah blah" and [a.filename for a in mail.attachments] == ["a.pdf"]


def test_a_forwarded_mail_stays_whole_as_eml_with_its_own_sender_date_and_subject():
    inner = (b"From: Billing <billing@example.com>\r\nDate: Mon, 30 Nov 2026 10:00:00 +0000\r\nSubject: Your invoice\r\n"
             b'Content-Type: multipart/mixed; boundary="c"\r\n\r\n--c\r\nContent-Type: text/plain\r\n\r\n'
             b"You owe 900 EUR.\r\n--c\r\nContent-Type: application/pdf; name=\"inv.pdf\"\r\n\r\nPDF\r\n--c--\r\n")
    mail = parse(mixed(b"Content-Type: text/plain\r\n\r\nSee the mail I got from you below, it is wrong.",
                       b"Content-Type: message/rfc822\r\n\r\n" + inner))
    assert mail.text == "See the mail I got from you below, it is wrong."  # the customer's own words only
    assert [(a.filename, a.content_type) for a in mail.attachments] == [("Your invoice.eml", "message/rfc822")]
    assert b"You owe 900 EUR." in mail.attachments[0].content
    [forwarded] = mail.forwarded
    assert (forwarded.from_, forwarded.subject, forwarded.date) == (
        "Billing <billing@example.com>", "Your invoice", "2026-11-30T10:00:00+00:00")
    assert forwarded.text == "You owe 900 EUR." and forwarded.attachments == ["inv.pdf"]


@pytest.mark.parametrize("disposition", [
    b'Content-Disposition: attachment; filename="=?gbk?B?t6LGsS5wZGY=?="',  # RFC 2047 in a quoted name
    b"Content-Disposition: attachment; filename*=gbk''%B7%A2%C6%B1.pdf",  # RFC 2231
    b"Content-Disposition: attachment; filename*0*=gb2312''%B7%A2; filename*1*=%C6%B1.pdf",  # continued
])
def test_encoded_attachment_names_are_decoded(disposition):
    mail = parse(mixed(b"Content-Type: text/plain\r\n\r\nhi", b"Content-Type: application/pdf\r\n" + disposition +
                       b"\r\n\r\nPDF"))
    assert [a.filename for a in mail.attachments] == ["发票.pdf"]


def test_gbk_only_characters_under_a_gb2312_label_are_read_with_its_superset():
    name = "镕铖发票.pdf".encode("gbk")  # 镕 and 铖 are in GBK, not in GB2312
    quoted = "".join(f"%{b:02X}" for b in name).encode()
    mail = parse(mixed(b"Content-Type: text/plain\r\n\r\nhi", b"Content-Type: application/pdf\r\n"
                       b"Content-Disposition: attachment; filename*=gb2312''" + quoted + b"\r\n\r\nPDF"))
    assert [a.filename for a in mail.attachments] == ["镕铖发票.pdf"]
    words = parse(HEAD + b"Subject: =?gb2312?B?" + base64.b64encode("镕铖".encode("gbk")) + b"?=\r\n\r\nb\r\n")
    assert words.subject == "镕铖" and words.problems == []  # not flagged undecodable


@pytest.mark.parametrize("subject, expected", [
    (b"=?iso-8859-1?Q?Fr=F6sche?= \xc3\xa9t\xc3\xa9", "Frösche été"),  # an encoded word beside raw UTF-8
    (b"=?iso-8859-1?Q?Fr=F6sche?=", "Frösche"),
    (b"Fr\xf6sche se\xf1or", "Frösche señor"),  # raw Latin-1
    ("发票问题".encode("gbk"), "发票问题"),  # raw GBK, as old Chinese clients write it
    (b"=?utf-8?B?5Y+R56Wo?= =?utf-8?B?6Zeu6aKY?=", "发票问题"),  # adjacent words join without the space
])
def test_headers_honour_declared_charsets_then_utf8_then_a_detector(subject, expected):
    assert parse(HEAD + b"Subject: " + subject + b"\r\n\r\nbody\r\n").subject == expected


def test_raw_8bit_headers_in_the_charset_the_message_declares():
    raw = (HEAD + b"Subject: " + "發票問題".encode("big5") + b"\r\nContent-Type: text/plain; charset=big5\r\n\r\n" +
           "請看附件".encode("big5") + b"\r\n")
    mail = parse(raw)
    assert (mail.subject, mail.text) == ("發票問題", "請看附件\n")
    assert "Subject header had raw 8-bit bytes, read as big5 (the charset the message declares)" in mail.problems


def test_nesting_past_the_bound_keeps_the_deeper_part_undecoded_and_flagged():
    depth = 60
    body = "".join(f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n' for i in range(depth))
    body += "Content-Type: text/plain\r\n\r\nthe bottom\r\n" + "".join(f"--b{i}--\r\n" for i in reversed(range(depth)))
    mail = parse(HEAD + b"Subject: deep\r\n" + body.encode())
    [kept] = mail.attachments
    assert kept.content_type == "message/rfc822" and b"the bottom" in kept.content
    assert "MIME parts nested deeper than 40; the deeper part is kept undecoded" in mail.problems
