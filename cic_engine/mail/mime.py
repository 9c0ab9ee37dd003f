"""One email, as bytes from the server, into what the engine keeps: sender, threading ids,
decoded subject and text, sanitised HTML, attachments, and what was wrong with it.

Nothing here raises on bad input: what cannot be decoded is replaced and listed in `problems`,
so a broken message is still ingested and flagged, never lost.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import hashlib
import mimetypes
import quopri
import re
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes, policy
from email.header import Header, decode_header
from email.message import Message
from email.utils import getaddresses, parseaddr, parsedate_to_datetime

from ..models import safe_filename
from .text import decode_text, detect, html_to_text, preview, sanitise_html, superset, unflow

_MSGID = re.compile(r"<[^<>\s]+>")
MAX_PARTS_WALKED = 500
MAX_DEPTH = 40  # multiparts in one another; real mail rarely passes 5
MAX_FORWARD_DEPTH = 5  # mails forwarded inside forwarded mails, each read on its own


@dataclass
class Forwarded:
    """A mail attached to the mail (message/rfc822), as the inbox shows it, collapsed."""

    from_: str
    date: str | None
    subject: str
    text: str
    filename: str  # of its .eml among the attachments
    attachments: list[str]


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
class _Found:
    texts: list[str] = field(default_factory=list)
    htmls: list[str] = field(default_factory=list)
    attachments: list[ParsedAttachment] = field(default_factory=list)
    forwarded: list[Forwarded] = field(default_factory=list)


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
    forwarded: list[Forwarded] = field(default_factory=list)
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


_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_BETWEEN_WORDS = re.compile(r"(\?=)[ \t\r\n]+(=\?)")


def _decode_header(text: str, name: str, problems: list[str]) -> str:
    """RFC 2047 encoded words, each in its own charset (read as its superset), among plain text
    that may itself be raw UTF-8 (RFC 6532). Whitespace between two encoded words is dropped."""
    if any("\udc80" <= ch <= "\udcff" for ch in text):  # raw 8-bit bytes the parser kept as they came
        raw = text.encode("utf-8", "surrogateescape")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text, how = detect(raw) or (raw.decode("utf-8", errors="replace"), "UTF-8 with replacements")
            problems.append(f"{name} had raw 8-bit bytes, read as {how}")
    if "=?" not in text:
        return text
    return _WORD.sub(lambda m: _word(m, name, problems), _BETWEEN_WORDS.sub(r"\1\2", text))


def _word(match: re.Match, name: str, problems: list[str]) -> str:
    charset, encoding, data = match.group(1).split("*", 1)[0], match.group(2).upper(), match.group(3)
    try:
        if encoding == "B":
            raw = base64.b64decode(data + "=" * (-len(data) % 4))
        else:
            raw = quopri.decodestring(data.replace("_", " ").encode("latin-1", "replace"), header=True)
    except (binascii.Error, ValueError) as exc:
        problems.append(f"{name} header: undecodable encoded word ({exc})")
        return match.group(0)
    text, note = decode_text(raw, charset)
    if note and not raw.isascii():
        problems.append(f"{name} header: {note}")
    return text


def _ids(value: str) -> list[str]:
    return _MSGID.findall(value)


_CHARSET_PARAM = re.compile(rb"""charset\s*=\s*["']?([A-Za-z0-9_.:+-]{1,40})""", re.IGNORECASE)


def _utf8_headers(raw: bytes, problems: list[str]) -> bytes:
    """Header lines with raw 8-bit bytes that are not UTF-8 (old clients write GBK, Big5 or
    Latin-1 there) re-encoded as UTF-8, which the parser reads (RFC 6532). Each such line is
    read as a charset the message declares, or as GB18030 when it reads as Chinese, or as a
    detector (charset-normalizer) says; every guess is flagged."""
    end = raw.find(b"\r\n\r\n")
    end = end if end >= 0 else raw.find(b"\n\n")
    head = raw[:end] if end >= 0 else raw
    if head.isascii():
        return raw
    declared = list(dict.fromkeys(m.decode().lower() for m in _CHARSET_PARAM.findall(raw[:65536])))
    lines = head.split(b"\n")
    for i, line in enumerate(lines):
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
            continue
        except UnicodeDecodeError:
            pass
        text, how = _raw_header_line(line, declared)
        field = line.split(b":", 1)[0].decode("ascii", "replace").strip() if b":" in line else "a folded header line"
        problems.append(f"{field} header had raw 8-bit bytes, read as {how}")
        lines[i] = text.encode("utf-8")
    return b"\n".join(lines) + (raw[end:] if end >= 0 else b"")


def _raw_header_line(line: bytes, declared: list[str]) -> tuple[str, str]:
    for charset in declared:
        name = superset(charset)
        if name in ("utf-8", None):
            continue
        try:
            return line.decode(name), f"{charset} (the charset the message declares)"
        except (UnicodeDecodeError, LookupError):
            continue
    return detect(line) or (line.decode("utf-8", errors="replace"), "UTF-8 with replacements")


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


def _parse(raw: bytes, own_addresses: frozenset[str], depth_left: int = MAX_FORWARD_DEPTH) -> ParsedMail:
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

    found = _Found()
    _walk(msg, found, problems, depth_left)
    htmls = found.htmls
    html = sanitise_html("\n".join(htmls)) if htmls else None
    text = "\n\n".join(t for t in found.texts if t.strip()) or (html_to_text("\n".join(htmls)) if htmls else "")

    parsed = ParsedMail(
        message_id=message_id, has_message_id=bool(message_ids),
        in_reply_to=_ids(_header(msg, "In-Reply-To", problems)),
        references=_ids(_header(msg, "References", problems)),
        from_address=from_address, from_name=from_name,
        to=[a.lower() for _, a in getaddresses([_header(msg, "To", problems)]) if a],
        cc=[a.lower() for _, a in getaddresses([_header(msg, "Cc", problems)]) if a],
        subject=_header(msg, "Subject", problems), date=date, text=text, html=html, preview=preview(text),
        attachments=found.attachments, problems=problems, forwarded=found.forwarded,
    )
    parsed.bounce = _bounce(msg)
    parsed.automatic = _automatic(msg, parsed, own_addresses)
    return parsed


def _walk(msg: Message, found: _Found, problems: list[str], depth_left: int) -> None:
    """Bodies and attachments in order. Of a multipart/alternative, the text part is the body
    and the HTML is kept (sanitised) to show; attachments are every part with a filename or an
    attachment disposition, and inline images with a Content-ID. A forwarded mail
    (message/rfc822) stays whole, as an .eml attachment, and is read on its own. Parts deeper
    than MAX_DEPTH, or past MAX_PARTS_WALKED, are kept undecoded."""
    stack = [(msg, 0)]
    seen = 0
    while stack:
        part, depth = stack.pop()
        seen += 1
        if seen > MAX_PARTS_WALKED:
            problems.append(f"more than {MAX_PARTS_WALKED} MIME parts; the rest is kept undecoded as rest.eml")
            found.attachments.append(_undecoded(part, "rest.eml"))
            return
        ctype = part.get_content_type()
        if depth > MAX_DEPTH:
            problems.append(f"MIME parts nested deeper than {MAX_DEPTH}; the deeper part is kept undecoded")
            found.attachments.append(_undecoded(part, f"part-{seen}.eml"))
            continue
        if ctype == "message/rfc822":
            _forwarded(part, found, problems, depth_left, seen)
            continue
        if part.is_multipart():
            stack.extend((child, depth + 1) for child in reversed(part.get_payload()))
            continue
        if part.get_content_maintype() == "multipart":
            _unsplit(part, found, problems, depth_left)
            continue
        _leaf(part, ctype, seen, found, problems)


def _leaf(part: Message, ctype: str, seen: int, found: _Found, problems: list[str]) -> None:
    problems += [f"MIME part: {type(d).__name__}" for d in part.defects]
    disposition = (part.get_content_disposition() or "").lower()
    filename = _filename(part, problems)
    try:
        payload = part.get_payload(decode=True) or b""
    except Exception as exc:  # noqa: BLE001 - broken transfer encoding
        payload = b""
        problems.append(f"undecodable {ctype} part: {exc}")
    if ctype == "message/delivery-status" or ctype == "text/rfc822-headers":
        return  # read by _bounce
    if filename or disposition == "attachment" or (ctype not in ("text/plain", "text/html")):
        content_id = (part.get("Content-ID") or "").strip() or None
        found.attachments.append(ParsedAttachment(
            filename=safe_filename(filename or f"part-{seen}.{ctype.split('/')[-1]}"), content_type=ctype,
            content=payload, content_id=content_id, inline=disposition == "inline" or bool(content_id)))
        return
    text, note = decode_text(payload, part.get_content_charset())
    if note:
        problems.append(f"{ctype}: {note}")
    if ctype == "text/plain" and "begin " in text:
        text = _uuencoded(text, found, problems)
    if ctype == "text/html":
        found.htmls.append(text)
    else:
        params = {k.lower(): v.lower() for k, v in part.get_params() or [] if isinstance(v, str)}
        if params.get("format") == "flowed":
            text = unflow(text, params.get("delsp") == "yes")
        found.texts.append(text.replace("\r\n", "\n"))


_UU = re.compile(r"(?ms)^begin [0-7]{3,4} ([^\r\n]+?)\r?\n(.*?)^end[ \t]*\r?$\n?")


def _uuencoded(text: str, found: _Found, problems: list[str]) -> str:
    """Files old clients (Outlook, Pine) put uuencoded in the text: attached, out of the text."""
    def take(match: re.Match) -> str:
        data = bytearray()
        for line in match.group(2).splitlines():
            if not line.strip():
                continue
            try:
                data += binascii.a2b_uu(line)
            except binascii.Error:  # encoders that pad the last line their own way
                try:
                    data += binascii.a2b_uu(line[:((ord(line[0]) - 32) & 63) * 4 // 3 + 2])
                except (binascii.Error, ValueError):
                    problems.append(f"uuencoded {match.group(1)!r}: a line could not be decoded")
        name = safe_filename(match.group(1).strip(), "uuencoded")
        found.attachments.append(ParsedAttachment(
            filename=name, content_type=mimetypes.guess_type(name)[0] or "application/octet-stream",
            content=bytes(data), content_id=None, inline=False))
        return ""
    return _UU.sub(take, text)


def _filename(part: Message, problems: list[str]) -> str | None:
    """The part's file name: RFC 2231 (charset'lang'%XX) read with the charset's superset, and
    RFC 2047 encoded words in a quoted name (which many clients write) decoded too."""
    for header, param in (("content-disposition", "filename"), ("content-type", "name")):
        try:
            value = part.get_param(param, None, header)
        except Exception:  # noqa: BLE001 - a broken parameter
            problems.append(f"unreadable {param} parameter")
            continue
        if value is None:
            continue
        if isinstance(value, tuple):  # RFC 2231: the bytes, one character each
            charset, _, text = value
            name, note = decode_text(text.encode("latin-1", "replace"), charset or "utf-8")
            if note:
                problems.append(f"{param} parameter: {note}")
        else:
            name = _decode_header(email.utils.unquote(value), param, problems)
        return " ".join(name.split()) or None
    return None


def _unsplit(part: Message, found: _Found, problems: list[str], depth_left: int) -> None:
    """A multipart the parser could not split (no boundary, or one folded so that it no longer
    matches): split by the boundary its body uses, or else kept whole as text."""
    body = part.get_payload(decode=False)
    body = body if isinstance(body, str) else ""
    marker = re.search(r"(?m)^--(\S[^\r\n]{0,69}?)[ \t]*\r?$", body)  # the first boundary line opens a part
    if marker and depth_left > 0:
        boundary = marker.group(1)
        again = email.message_from_string(f'Content-Type: {part.get_content_type()}; boundary="{boundary}"\n\n'
                                          + body, policy=policy.compat32)
        if again.is_multipart():
            problems.append("a multipart's boundary did not match its body; split by the one its body uses")
            _walk(again, found, problems, depth_left - 1)
            return
    problems.append("a multipart without a usable boundary; its content is kept as text")
    text, _ = decode_text(part.get_payload(decode=True) or b"", part.get_content_charset())
    found.texts.append(text.replace("\r\n", "\n"))


def _undecoded(part: Message, filename: str) -> ParsedAttachment:
    try:
        content = part.as_bytes()
    except (RecursionError, Exception):  # noqa: BLE001 - as much as can be written back
        content = str(part.get_payload()).encode("utf-8", "surrogateescape")
    return ParsedAttachment(filename=filename, content_type="message/rfc822", content=content, content_id=None,
                            inline=False)


def _forwarded(part: Message, found: _Found, problems: list[str], depth_left: int, seen: int) -> None:
    """A mail inside the mail: kept whole as an .eml attachment, and read on its own for what
    the inbox shows of it (its From, Date, Subject and text), never mixed into the outer text."""
    inner = part.get_payload()
    if isinstance(inner, list) and inner:
        inner = inner[0]
    try:
        raw = inner.as_bytes() if isinstance(inner, Message) else part.get_payload(decode=True) or b""
    except Exception:  # noqa: BLE001 - written back as far as it goes
        raw = str(inner).encode("utf-8", "surrogateescape")
    if depth_left <= 0:
        found.attachments.append(ParsedAttachment(filename=f"forwarded-{seen}.eml", content_type="message/rfc822",
                                                  content=raw, content_id=None, inline=False))
        problems.append("mails forwarded inside forwarded mails too deeply; the innermost kept unread")
        return
    mail = _parse(raw, frozenset(), depth_left - 1)
    filename = safe_filename(f"{mail.subject or 'forwarded message'}.eml"[-200:], "forwarded.eml")
    found.attachments.append(ParsedAttachment(filename=filename, content_type="message/rfc822", content=raw,
                                              content_id=None, inline=False))
    found.forwarded.append(Forwarded(from_=" ".join(filter(None, (mail.from_name, f"<{mail.from_address}>"
                                                                   if mail.from_address else ""))),
                                     date=mail.date.isoformat() if mail.date else None, subject=mail.subject,
                                     text=mail.text[:4000], filename=filename,
                                     attachments=[a.filename for a in mail.attachments]))


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
