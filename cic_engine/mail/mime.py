"""One email, as bytes from the server, into what the engine keeps: sender, threading ids,
decoded subject and text, sanitised HTML, attachments, and what was wrong with it.

Nothing here raises on bad input: what cannot be decoded is replaced and listed in `problems`,
so a broken message is still ingested and flagged, never lost.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes, policy
from email.errors import HeaderParseError
from email.header import Header, decode_header, make_header
from email.message import Message
from email.utils import getaddresses, parseaddr, parsedate_to_datetime

from ..models import safe_filename
from .text import decode_text, html_to_text, preview, sanitise_html, unflow

_MSGID = re.compile(r"<[^<>\s]+>")
MAX_PARTS_WALKED = 500


@dataclass
class Bounce:
    """A delivery status notification about a message we sent."""

    original_message_id: str | None
    recipient: str | None
    action: str | None  # failed, delayed, delivered...
    status: str | None  # 5.1.1
    diagnostic: str | None


@dataclass
class ParsedAttachment:
    filename: str
    content_type: str
    content: bytes
    content_id: str | None
    inline: bool


@dataclass
class ParsedMail:
    message_id: str  # the Message-ID, or a synthetic one from the content when it has none
    has_message_id: bool
    in_reply_to: list[str]
    references: list[str]
    from_address: str
    from_name: str
    to: list[str]
    cc: list[str]
    subject: str
    date: datetime | None
    text: str
    html: str | None  # sanitised
    preview: str
    attachments: list[ParsedAttachment] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    automatic: str | None = None  # why this is machine mail that gets no auto-reply
    bounce: Bounce | None = None

    @property
    def thread_refs(self) -> list[str]:
        return list(dict.fromkeys(self.references + self.in_reply_to))


def _header(msg: Message, name: str, problems: list[str]) -> str:
    try:
        value = msg.get(name)
    except Exception as exc:  # a header the parser chokes on
        problems.append(f"{name} header unreadable: {exc}")
        return ""
    if value is None:
        return ""
    if isinstance(value, Header):  # raw 8-bit bytes (made UTF-8 by _utf8_headers), as compat32 keeps them
        value = "".join(c.decode("utf-8", errors="replace") if isinstance(c, bytes) else c
                        for c, _ in decode_header(value))
    return " ".join(_decode_header(str(value), name, problems).split())


def _decode_header(text: str, name: str, problems: list[str]) -> str:
    """RFC 2047 encoded words, and raw UTF-8 (RFC 6532), into text."""
    if any("\udc80" <= ch <= "\udcff" for ch in text):
        text = text.encode("ascii", "surrogateescape").decode("utf-8", errors="replace")
    if "=?" not in text:
        return text
    try:
        return str(make_header(decode_header(text)))
    except (HeaderParseError, LookupError, UnicodeDecodeError, ValueError) as exc:
        problems.append(f"{name} header: undecodable encoded word ({exc})")
        out = []
        for chunk, charset in decode_header(text):
            if isinstance(chunk, bytes):
                out.append(decode_text(chunk, charset)[0])
            else:
                out.append(chunk)
        return "".join(out)


def _ids(value: str) -> list[str]:
    return _MSGID.findall(value)


def _utf8_headers(raw: bytes, problems: list[str]) -> bytes:
    """Headers with raw 8-bit bytes that are not UTF-8 (old clients write GBK or Big5 there)
    are re-encoded as UTF-8, which the parser reads (RFC 6532)."""
    end = raw.find(b"\r\n\r\n")
    end = end if end >= 0 else raw.find(b"\n\n")
    head = raw[:end] if end >= 0 else raw
    if head.isascii():
        return raw
    try:
        head.decode("utf-8")
        return raw
    except UnicodeDecodeError:
        pass
    for charset in ("gb18030", "big5hkscs"):
        try:
            text = head.decode(charset)
            break
        except UnicodeDecodeError:
            continue
    else:
        charset, text = "UTF-8 with replacements", head.decode("utf-8", errors="replace")
    problems.append(f"headers had raw 8-bit bytes, read as {charset}")
    return text.encode("utf-8") + (raw[end:] if end >= 0 else b"")


def parse(raw: bytes, own_addresses: frozenset[str] = frozenset()) -> ParsedMail:
    """The mail as the inbox shows it. One nested deeper than the parser can follow (a
    thousand multiparts in one another) is read for its headers, and kept whole, attached."""
    try:
        return _parse(raw, own_addresses)
    except RecursionError:
        head = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0] + b"\r\n\r\n"
        mail = _parse(head, own_addresses)
        mail.text = "[This mail nests its parts too deeply to be read here; it is attached whole as message.eml.]"
        mail.preview = mail.text
        mail.html = None
        mail.attachments = [ParsedAttachment(filename="message.eml", content_type="message/rfc822", content=raw,
                                             content_id=None, inline=False)]
        mail.problems.append("MIME parts nested too deeply to read; the mail is kept whole as an attachment")
        return mail


def _parse(raw: bytes, own_addresses: frozenset[str]) -> ParsedMail:
    problems: list[str] = []
    # compat32: headers stay strings, decoded here; the default policy's header objects cost
    # three quarters of the parse (bench/email.py).
    msg = message_from_bytes(_utf8_headers(raw, problems), policy=policy.compat32)
    problems += [f"MIME: {type(d).__name__}" for d in msg.defects]

    message_ids = _ids(_header(msg, "Message-ID", problems))
    message_id = message_ids[0] if message_ids else f"<sha256.{hashlib.sha256(raw).hexdigest()}@cic.invalid>"
    if not message_ids:
        problems.append("no Message-ID; identified by its content")
    from_name, from_address = parseaddr(_header(msg, "From", problems))
    from_address = from_address.strip().lower()
    date = None
    try:
        date = parsedate_to_datetime(_header(msg, "Date", problems)) if msg.get("Date") else None
    except (TypeError, ValueError, IndexError):
        problems.append("Date header unreadable")

    texts: list[str] = []
    htmls: list[str] = []
    attachments: list[ParsedAttachment] = []
    _walk(msg, texts, htmls, attachments, problems)
    html = sanitise_html("\n".join(htmls)) if htmls else None
    text = "\n\n".join(t for t in texts if t.strip()) or (html_to_text("\n".join(htmls)) if htmls else "")

    parsed = ParsedMail(
        message_id=message_id, has_message_id=bool(message_ids),
        in_reply_to=_ids(_header(msg, "In-Reply-To", problems)),
        references=_ids(_header(msg, "References", problems)),
        from_address=from_address, from_name=from_name,
        to=[a.lower() for _, a in getaddresses([_header(msg, "To", problems)]) if a],
        cc=[a.lower() for _, a in getaddresses([_header(msg, "Cc", problems)]) if a],
        subject=_header(msg, "Subject", problems), date=date, text=text, html=html, preview=preview(text),
        attachments=attachments, problems=problems,
    )
    parsed.bounce = _bounce(msg)
    parsed.automatic = _automatic(msg, parsed, own_addresses)
    return parsed


def _walk(msg: Message, texts: list[str], htmls: list[str], attachments: list[ParsedAttachment],
          problems: list[str]) -> None:
    """Bodies and attachments in order. Of a multipart/alternative, the text part is the body
    and the HTML is kept (sanitised) to show; attachments are every part with a filename or an
    attachment disposition, and inline images with a Content-ID."""
    seen = 0
    for part in msg.walk():
        seen += 1
        if seen > MAX_PARTS_WALKED:
            problems.append(f"more than {MAX_PARTS_WALKED} MIME parts; the rest was not read")
            break
        if part.is_multipart():
            continue
        problems += [f"MIME part: {type(d).__name__}" for d in part.defects]
        ctype = part.get_content_type()
        disposition = (part.get_content_disposition() or "").lower()
        try:
            filename = part.get_filename()
        except Exception:  # noqa: BLE001 - a broken RFC 2231 parameter
            filename = None
            problems.append("unreadable filename parameter")
        try:
            payload = part.get_payload(decode=True) or b""
        except Exception as exc:  # noqa: BLE001 - broken transfer encoding
            payload = b""
            problems.append(f"undecodable {ctype} part: {exc}")
        if ctype == "message/delivery-status" or ctype == "text/rfc822-headers":
            continue  # read by _bounce
        if filename or disposition == "attachment" or (ctype not in ("text/plain", "text/html")):
            if ctype.startswith("multipart/"):
                continue
            content_id = (part.get("Content-ID") or "").strip() or None
            attachments.append(ParsedAttachment(
                filename=safe_filename(filename or f"part-{seen}.{ctype.split('/')[-1]}"), content_type=ctype,
                content=payload, content_id=content_id, inline=disposition == "inline" or bool(content_id)))
            continue
        text, note = decode_text(payload, part.get_content_charset())
        if note:
            problems.append(f"{ctype}: {note}")
        if ctype == "text/html":
            htmls.append(text)
        else:
            params = {k.lower(): v.lower() for k, v in part.get_params() or [] if isinstance(v, str)}
            if params.get("format") == "flowed":
                text = unflow(text, params.get("delsp") == "yes")
            texts.append(text.replace("\r\n", "\n"))


def _bounce(msg: Message) -> Bounce | None:
    if msg.get_content_type() != "multipart/report" or msg.get_param("report-type", "").lower() != "delivery-status":
        return None
    fields: dict[str, str] = {}
    original = None
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype == "message/delivery-status":
            for block in part.get_payload() if isinstance(part.get_payload(), list) else []:
                for name in ("Action", "Status", "Diagnostic-Code", "Final-Recipient", "Original-Recipient"):
                    if block.get(name) and name not in fields:
                        fields[name] = str(block.get(name))
        elif ctype in ("message/rfc822", "text/rfc822-headers") and original is None:
            inner = part.get_payload()
            if isinstance(inner, list) and inner:
                original = inner[0].get("Message-ID")
            elif isinstance(inner, str):
                found = re.search(r"(?im)^Message-ID:\s*(<[^>]+>)", inner)
                original = found.group(1) if found else None
    recipient = fields.get("Final-Recipient") or fields.get("Original-Recipient")
    return Bounce(
        original_message_id=(_ids(str(original)) or [None])[0] if original else None,
        recipient=recipient.split(";", 1)[-1].strip() if recipient else None,
        action=fields.get("Action"), status=fields.get("Status"), diagnostic=fields.get("Diagnostic-Code"),
    )


_ROBOTS = re.compile(r"^(mailer-daemon|postmaster|no-?reply|do-?not-?reply|bounces?)([+\-.].*)?@", re.IGNORECASE)


def _automatic(msg: Message, parsed: ParsedMail, own: frozenset[str]) -> str | None:
    """Why this message must get no auto-reply (RFC 3834), or None for a person's mail."""
    auto = (msg.get("Auto-Submitted") or "").strip().lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    precedence = (msg.get("Precedence") or "").strip().lower()
    if precedence in ("bulk", "list", "junk", "auto_reply"):
        return f"Precedence: {precedence}"
    if msg.get("List-Id") or msg.get("List-Unsubscribe"):
        return "mailing list"
    if msg.get("X-Autoreply") or msg.get("X-Autorespond") or msg.get("X-Auto-Response-Suppress"):
        return "auto-responder headers"
    if parsed.bounce is not None:
        return "delivery status notification"
    if not parsed.from_address or _ROBOTS.match(parsed.from_address):
        return f"sender {parsed.from_address or '(none)'}"
    if parsed.from_address in own:
        return "our own address"
    return None
