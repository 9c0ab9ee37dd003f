"""Outgoing mail: a reply that threads in the customer's mail client (In-Reply-To and
References, a Message-ID of our domain, "Re:" subject, the previous message quoted), with a
signature and attachments."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr


@dataclass(frozen=True)
class Quoted:
    """The message a reply answers."""

    sender: str
    at: datetime | None
    text: str


def new_message_id(domain: str) -> str:
    return f"<{uuid.uuid4().hex}@{domain}>"


def reply_subject(subject: str | None) -> str:
    subject = (subject or "").strip()
    if subject.lower().startswith(("re:", "回复:", "回复：", "答复:")):
        return subject
    return f"Re: {subject}" if subject else "Re: your message"


def quote(previous: Quoted) -> str:
    when = previous.at.strftime("%a, %d %b %Y %H:%M") if previous.at else "earlier"
    lines = previous.text.strip().splitlines() or [""]
    return f"On {when}, {previous.sender} wrote:\n" + "\n".join(f"> {line}" if line else ">" for line in lines)


def build(
    *, from_address: str, from_name: str, to: str, subject: str, text: str, message_id: str,
    thread_refs: list[str], quote: str | None = None, signature: str | None = None,
    attachments: list[tuple[str, str, bytes]] = (), headers: dict[str, str] | None = None,
) -> EmailMessage:
    body = text.rstrip()
    if signature:
        body += "\n\n-- \n" + signature.strip()
    if quote:
        body += "\n\n" + quote
    msg = EmailMessage()
    msg["From"] = formataddr((from_name, from_address)) if from_name else from_address
    msg["To"] = str(Address(addr_spec=to))
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = message_id
    refs = [r for r in thread_refs if r]
    if refs:
        msg["In-Reply-To"] = refs[-1]
        msg["References"] = " ".join(refs[-20:])  # the thread's newest ids: headers stay a sane length
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body, charset="utf-8")
    for filename, content_type, content in attachments:
        maintype, _, subtype = content_type.partition("/")
        msg.add_attachment(content, maintype=maintype or "application", subtype=subtype or "octet-stream",
                           filename=filename)
    return msg
