"""Replies on an interaction's channel: written to the outbox in one transaction with
everything the channel needs to thread them (the ids of the conversation so far, the message
answered, quoted), then sent by the node owning the adapter (outbox.py)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass

from .clock import Clock, SystemClock
from .fax import kind_of
from .mail.compose import Quoted, new_message_id, quote, reply_subject
from .store import Store
from .store import outbox as store_outbox


class ReplyRefused(ValueError):
    """The reply cannot be sent as asked; the message says why."""


@dataclass(frozen=True)
class ReplyFile:
    filename: str
    content_type: str
    content: bytes


# The identity a reply on each channel is addressed to, when it is not the channel the customer wrote on.
ADDRESS_KIND = {"email": "email", "sms": "phone", "fax": "phone", "voice": "phone"}


class Replies:
    def __init__(self, store: Store, clock: Clock | None = None,
                 adapter_for: Callable[[str], tuple[str, str | None] | None] = lambda channel: None):
        self.store = store
        self.clock = clock or SystemClock()
        # (name, our address) of the adapter that sends on a channel, for a reply on another one.
        self.adapter_for = adapter_for

    def reply(self, interaction_id: int, text: str, agent_id: int | None = None, files: list[ReplyFile] = (),
              kind: str = "reply", quote_previous: bool = True, subject: str | None = None,
              channel: str | None = None, to: str | None = None) -> int:
        """Queue a reply to the customer's last message; returns the outbox id. With `channel`
        other than the interaction's, it goes to the customer's address on that channel (an
        email to a customer who chatted), if they have one and have not opted out of it, or to
        `to` (the code that proves an address the customer claims is theirs)."""
        now = self.clock.now()
        with self.store.transaction() as conn:
            row = conn.execute(
                """SELECT i.channel, i.subject, c.opted_out_channels, m.sender, m.sender_name, m.received_at,
                          m.recipient, m.metadata ->> 'adapter',
                          (SELECT body FROM message_parts p WHERE p.message_id = m.id AND p.content_type = 'text/plain'
                           ORDER BY seq LIMIT 1)
                   FROM interactions i JOIN customers c ON c.id = i.customer_id
                   JOIN LATERAL (SELECT * FROM messages WHERE interaction_id = i.id AND direction = 'inbound'
                                 ORDER BY id DESC LIMIT 1) m ON true
                   WHERE i.id = %s""", (interaction_id,)).fetchone()
            if row is None:
                raise ReplyRefused(f"interaction {interaction_id} has no message from the customer to answer")
            own, thread_subject, opted_out, sender, sender_name, received_at, our_address, adapter, previous = row
            channel = channel or own
            if channel in opted_out:
                raise ReplyRefused(f"the customer opted out of {channel}")
            if channel != own:
                adapter, our_address, sender = self._elsewhere(conn, interaction_id, channel, to)
                subject = subject or thread_subject or f"Your conversation with us (#{interaction_id})"
            if not adapter:
                raise ReplyRefused(f"interaction {interaction_id}: no adapter received it, so none can answer")
            if channel == "fax":
                _faxable(text, files)
            refs = [r[0] for r in conn.execute(
                """SELECT external_id FROM messages WHERE interaction_id = %s AND external_id LIKE '<%%>'
                   ORDER BY (direction = 'inbound' AND id = (SELECT max(id) FROM messages WHERE interaction_id = %s
                             AND direction = 'inbound')), id""", (interaction_id, interaction_id)).fetchall()]
            domain = (our_address or "").rpartition("@")[2] or "cic.invalid"
            message_id = new_message_id(domain)
            payload = {
                "subject": subject or reply_subject(thread_subject), "text": text, "kind": kind, "agent_id": agent_id,
                "thread_refs": refs,
                "quote": quote(Quoted(sender=sender_name or sender, at=received_at, text=previous or ""))
                if quote_previous and previous else None,
                "attachments": [{"filename": f.filename, "content_type": f.content_type,
                                 "content": base64.b64encode(f.content).decode()} for f in files],
            }
            return store_outbox.enqueue(conn, interaction_id, channel, adapter, sender, payload, message_id, now)

    def _elsewhere(self, conn, interaction_id: int, channel: str, to: str | None) -> tuple[str, str | None, str]:
        """(adapter, our address, the customer's address) for a reply on another channel than
        the interaction's."""
        kind = ADDRESS_KIND.get(channel)
        adapter = self.adapter_for(channel)
        if kind is None or adapter is None:
            raise ReplyRefused(f"no {channel} channel is set up to answer on")
        if to is not None:
            return adapter[0], adapter[1], to
        found = conn.execute(
            """SELECT ci.value FROM interactions i JOIN customer_identities ci ON ci.customer_id = i.customer_id
               WHERE i.id = %s AND ci.kind = %s ORDER BY ci.id LIMIT 1""", (interaction_id, kind)).fetchone()
        if found is None:
            raise ReplyRefused(f"the customer has no {kind} on file to answer by {channel}")
        return adapter[0], adapter[1], found[0]


def _faxable(text: str, files) -> None:
    """A fax carries PDF or TIFF pages (the text becomes a cover page); say so before it is queued."""
    if not files and not text.strip():
        raise ReplyRefused("nothing to fax: attach a PDF or write a cover page")
    for f in files:
        if kind_of(f.content) is None:
            raise ReplyRefused(f"{f.filename} cannot be faxed: attach PDF or TIFF documents")
