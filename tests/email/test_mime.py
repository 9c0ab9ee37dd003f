"""MIME parsing on messages built the way real mail clients write them, in the charsets our
customers use."""

from __future__ import annotations

import base64
from email.header import Header
from email.message import EmailMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import pytest

from cic_engine.mail.mime import parse

CHINESE = "您好，我的订单还没有到，请帮忙查一下。谢谢！"
TRADITIONAL = "您好，我的訂單還沒有到，請幫忙查一下。謝謝！"
JAPANESE = "ご注文の件でお問い合わせします。"


def _mail(body: str, charset: str, subject: str, cte: str = "base64") -> bytes:
    part = MIMEText(body.encode(charset), "plain", charset)
    part.replace_header("Content-Transfer-Encoding", cte) if cte != "base64" else None
    if cte == "8bit":
        part.set_payload(body.encode(charset))
    part["From"] = f"{Header('王小明', charset).encode()} <xm@example.cn>"
    part["To"] = "support@example.com"
    part["Subject"] = Header(subject, charset).encode()
    part["Message-ID"] = "<abc@example.cn>"
    return part.as_bytes()


@pytest.mark.parametrize("charset,text", [
    ("gb2312", CHINESE), ("gbk", CHINESE), ("gb18030", CHINESE + "𠀀"), ("big5", TRADITIONAL),
    ("iso-2022-jp", JAPANESE), ("utf-8", CHINESE),
])
def test_bodies_and_encoded_headers_in_each_charset_come_out_as_text(charset, text):
    mail = parse(_mail(text, charset, "订单查询" if "jp" not in charset and "big5" not in charset else "件名"))
    assert mail.text.strip() == text
    assert mail.from_name == "王小明" and mail.from_address == "xm@example.cn"
    assert mail.subject in ("订单查询", "件名")
    assert not [p for p in mail.problems if "replaced" in p]


def test_gbk_characters_declared_as_gb2312_are_read_with_the_superset():
    # 镕 is in GBK but not GB2312: clients label such mail gb2312 all the same.
    mail = parse(_mail("朱镕基", "gbk", "x").replace(b"charset=\"gbk\"", b"charset=\"gb2312\""))
    assert mail.text.strip() == "朱镕基"


def test_broken_utf8_is_replaced_and_flagged_never_a_crash():
    raw = (b"From: a@example.com\r\nTo: b@example.com\r\nSubject: broken\r\nMessage-ID: <b@x>\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
           b"ok \xe6\x82 then \xff more\r\n")
    mail = parse(raw)
    assert mail.text.startswith("ok ") and "\ufffd" in mail.text and "more" in mail.text
    assert any("replaced" in p for p in mail.problems)


def test_raw_8bit_headers_are_decoded_utf8_as_rfc6532_and_gbk_flagged():
    raw = "From: 张三 <zs@example.cn>\r\nSubject: 退货\r\nMessage-ID: <h@x>\r\n\r\nhi\r\n"
    mail = parse(raw.encode("utf-8"))
    assert mail.subject == "退货" and mail.from_name == "张三"
    mail = parse(raw.encode("gbk"))  # an old client writing GBK bytes into headers
    assert mail.subject == "退货" and mail.from_address == "zs@example.cn"
    assert any("8-bit" in p for p in mail.problems)


def test_alternative_prefers_text_and_keeps_sanitised_html():
    outer = MIMEMultipart("alternative")
    outer["From"] = "c@example.com"
    outer["Message-ID"] = "<alt@x>"
    outer.attach(MIMEText("plain words", "plain", "utf-8"))
    outer.attach(MIMEText('<p onclick="x()">rich <b>words</b><script>alert(1)</script>'
                          '<img src=x onerror=alert(1)></p>', "html", "utf-8"))
    mail = parse(outer.as_bytes())
    assert mail.text == "plain words"
    assert "<b>words</b>" in mail.html and "script" not in mail.html and "onerror" not in mail.html
    assert "onclick" not in mail.html


def test_html_only_mail_gets_a_text_body():
    part = MIMEText("<div>Hello<br>there &amp; <b>you</b></div>", "html", "utf-8")
    part["From"] = "c@example.com"
    mail = parse(part.as_bytes())
    assert mail.text == "Hello\nthere & you"


def test_attachments_with_rfc2231_names_and_inline_images_are_listed():
    msg = EmailMessage()
    msg["From"] = "c@example.com"
    msg["Message-ID"] = "<att@x>"
    msg.set_content("see attached")
    msg.add_attachment(b"%PDF-1.4 data", maintype="application", subtype="pdf", filename=("utf-8", "", "发票 2026.pdf"))
    msg.add_attachment(b"\x89PNG fake", maintype="image", subtype="png", filename="logo.png", disposition="inline",
                       cid="<logo@x>")
    mail = parse(msg.as_bytes())
    assert [(a.filename, a.content_type, a.inline) for a in mail.attachments] == [
        ("发票 2026.pdf", "application/pdf", False), ("logo.png", "image/png", True)]
    assert mail.attachments[0].content == b"%PDF-1.4 data" and mail.attachments[1].content_id == "<logo@x>"


def test_format_flowed_is_unwrapped():
    part = MIMEText("This is a long line that \r\nwas wrapped by the client.\r\n> quoted that \r\n> goes on\r\n",
                    "plain", "utf-8")
    part.set_param("format", "flowed")
    part["From"] = "c@example.com"
    mail = parse(part.as_bytes())
    assert mail.text.splitlines()[:2] == ["This is a long line that was wrapped by the client.", "> quoted that goes on"]


def test_preview_trims_quoted_history_and_signature_but_keeps_the_original():
    body = "Still waiting.\n\n-- \nXiaoming\n\nOn Mon, 5 Jan 2026 at 09:00, Support <s@x> wrote:\n> old text\n"
    part = MIMEText(body, "plain", "utf-8")
    part["From"] = "c@example.com"
    mail = parse(part.as_bytes())
    assert mail.preview == "Still waiting."
    assert "old text" in mail.text


def test_malformed_mime_is_read_as_far_as_it_goes_and_flagged():
    raw = (b"From: c@example.com\r\nMessage-ID: <m@x>\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n"
           b"--XX\r\nContent-Type: text/plain\r\n\r\nfirst part survives\r\n--XX\r\n"
           b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!")
    mail = parse(raw)
    assert "first part survives" in mail.text
    assert mail.problems  # missing end boundary, bad base64


def test_machine_mail_is_recognised_for_loop_protection():
    def auto(headers: str, sender: str = "c@example.com") -> str | None:
        raw = f"From: {sender}\r\nMessage-ID: <a@x>\r\n{headers}\r\nhello\r\n".encode()
        return parse(raw, frozenset({"support@example.com"})).automatic
    assert auto("") is None
    assert auto("Auto-Submitted: auto-replied\r\n") == "Auto-Submitted: auto-replied"
    assert auto("Auto-Submitted: no\r\n") is None
    assert auto("Precedence: bulk\r\n") == "Precedence: bulk"
    assert auto("List-Id: <news.example.com>\r\n") == "mailing list"
    assert auto("", "MAILER-DAEMON@mx.example.com") is not None
    assert auto("", "support@example.com") == "our own address"


def test_a_delivery_status_notification_names_the_message_that_bounced():
    raw = (b"From: MAILER-DAEMON@mx.example.com\r\nMessage-ID: <dsn@mx>\r\n"
           b"Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n"
           b"--B\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
           b"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com\r\n\r\n"
           b"Final-Recipient: rfc822; gone@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n"
           b"Diagnostic-Code: smtp; 550 5.1.1 no such user\r\n\r\n"
           b"--B\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <reply-7@cic.example.com>\r\nSubject: Re: x\r\n\r\n"
           b"--B--\r\n")
    mail = parse(raw)
    assert mail.bounce is not None
    assert (mail.bounce.original_message_id, mail.bounce.recipient, mail.bounce.status) == (
        "<reply-7@cic.example.com>", "gone@example.org", "5.1.1")
    assert "550" in mail.bounce.diagnostic and mail.automatic


def test_threading_ids_come_from_in_reply_to_and_references():
    raw = (b"From: c@example.com\r\nMessage-ID: <3@x>\r\nIn-Reply-To: <2@x>\r\nReferences: <1@x> <2@x>\r\n\r\nhi\r\n")
    assert parse(raw).thread_refs == ["<1@x>", "<2@x>"]


def test_a_message_without_message_id_gets_a_stable_one_from_its_content():
    raw = b"From: c@example.com\r\n\r\nno id here\r\n"
    assert parse(raw).message_id == parse(raw).message_id and not parse(raw).has_message_id
    assert base64  # used by other tests in this module's history
