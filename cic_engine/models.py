"""Pydantic models shared by the engine, the adapters and the API.

The public ones (listed in PUBLIC_MODELS) have JSON Schemas in schemas/json/.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# Limits that keep one hostile contact from filling the database or the inbox.
MAX_EXTERNAL_ID = 998  # RFC 5322 line limit; Message-IDs are the longest ids we get
MAX_PART_CHARS = 2_000_000
MAX_PARTS = 64
MAX_ATTACHMENTS = 64
MAX_ATTACHMENT_BYTES = 50 * 1024 * 1024


class Channel(StrEnum):
    voice = "voice"
    email = "email"
    sms = "sms"
    chat = "chat"
    fax = "fax"


class IdentityKind(StrEnum):
    phone = "phone"
    email = "email"
    chat = "chat"


# The identity an inbound contact's sender address is, unless the adapter says otherwise.
CHANNEL_IDENTITY_KIND: dict[Channel, IdentityKind] = {
    Channel.voice: IdentityKind.phone,
    Channel.sms: IdentityKind.phone,
    Channel.fax: IdentityKind.phone,
    Channel.email: IdentityKind.email,
    Channel.chat: IdentityKind.chat,
}


class Direction(StrEnum):
    inbound = "inbound"
    outbound = "outbound"


class InteractionState(StrEnum):
    queued = "queued"
    offered = "offered"
    active = "active"
    wrap_up = "wrap_up"
    closed = "closed"


class Tier(StrEnum):
    standard = "standard"
    silver = "silver"
    gold = "gold"
    vip = "vip"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ContentPart(_Strict):
    """One readable body of a message: text, sanitised HTML, a call summary..."""

    content_type: str = Field("text/plain", max_length=200)
    body: str = Field(max_length=MAX_PART_CHARS)

    @field_validator("body", mode="before")
    @classmethod
    def _whole_characters(cls, value: Any) -> Any:
        # A lone surrogate is no character UTF-8 can carry: shown as U+FFFD. (NUL stays for
        # the contact to remove and flag.)
        return _SURROGATE.sub("\ufffd", value) if isinstance(value, str) else value


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def storable(text: str) -> str:
    """`text` without what PostgreSQL text cannot hold: NUL dropped, a lone surrogate made U+FFFD."""
    if not _UNSTORABLE.search(text):
        return text
    return _UNSTORABLE.sub(lambda m: "" if m.group() == "\x00" else "\ufffd", text)


def safe_filename(name: str, fallback: str = "attachment") -> str:
    """A file's name as it may be stored, shown and put in a header: its last path component,
    without control characters (a CR/LF would split a Content-Disposition header), at most 200
    characters."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable()).strip()
    return name[:200] or fallback


class Attachment(_Strict):
    filename: str = Field(max_length=1000)
    content_type: str = Field("application/octet-stream", max_length=200)
    content: bytes = Field(max_length=MAX_ATTACHMENT_BYTES)
    content_id: str | None = Field(None, max_length=MAX_EXTERNAL_ID)
    inline: bool = False
    derived: bool = Field(False, description="made by the engine from the customer's file (a fax's PDF), so "
                          "safe to show in the inbox, unlike the customer's own files")

    @field_validator("filename")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        return safe_filename(value)


class InboundContact(_Strict):
    """What an adapter hands to engine.ingest(): one message from a customer, any channel."""

    channel: Channel
    endpoint: str = Field(min_length=1, max_length=200, description="company-side address or adapter name")
    external_id: str = Field(
        min_length=1,
        max_length=MAX_EXTERNAL_ID,
        description="the provider's id (Message-ID, call UUID, SMS id); unique per channel",
    )
    sender: str = Field(min_length=1, max_length=500, description="the customer's address, raw")
    sender_kind: IdentityKind | None = Field(None, description="defaults by channel")
    sender_name: str | None = Field(None, max_length=500)
    region: str | None = Field(None, min_length=2, max_length=2, description="region for local phone numbers")
    recipient: str | None = Field(None, max_length=500)
    subject: str | None = Field(None, max_length=2000)
    received_at: datetime | None = None
    thread_refs: list[Annotated[str, Field(max_length=MAX_EXTERNAL_ID)]] = Field(
        default_factory=list, max_length=200, description="external ids this contact replies to"
    )
    conversation_key: str | None = Field(None, max_length=500, description="e.g. a chat session id")
    continue_within_s: float | None = Field(
        None, gt=0, description="continue the customer's open interaction on this endpoint if active within"
    )
    parts: list[ContentPart] = Field(default_factory=list, max_length=MAX_PARTS)
    attachments: list[Attachment] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)
    queue: str | None = Field(None, max_length=200)
    priority: int = Field(0, ge=-1000, le=1000)
    skills: dict[Annotated[str, Field(max_length=100)], Annotated[int, Field(ge=1, le=10)]] = Field(
        default_factory=dict, max_length=20, description="skills (level 1-10) the agent needs, on top of the queue's"
    )
    language: str | None = Field(None, max_length=20, description="language the agent must speak (e.g. from IVR)")
    needs_agent: bool = True
    metadata: dict[str, str] = Field(default_factory=dict, max_length=100)

    @field_validator("external_id", "sender", "endpoint")
    @classmethod
    def _no_nul(cls, value: str) -> str:
        # PostgreSQL text cannot hold NUL; refuse here with a clear message rather than at INSERT.
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        """Text the store can keep: PostgreSQL refuses NUL (a UTF-16 text read as something
        else is full of them). It is removed here, for every channel, and the contact's problems
        say so; nothing is refused for it."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        changed = False
        for name in ("subject", "sender_name", "recipient", "conversation_key"):
            value = data.get(name)
            if isinstance(value, str) and storable(value) != value:
                data[name], changed = storable(value), True
        parts = []
        for part in data.get("parts") or []:
            body = part.body if isinstance(part, ContentPart) else part.get("body") if isinstance(part, dict) else None
            if isinstance(body, str) and storable(body) != body:
                part = part.model_copy(update={"body": storable(body)}) if isinstance(part, ContentPart) \
                    else {**part, "body": storable(body)}
                changed = True
            parts.append(part)
        if "parts" in data:
            data["parts"] = parts
        metadata = data.get("metadata")
        if isinstance(metadata, dict):
            clean = {storable(k) if isinstance(k, str) else k: storable(v) if isinstance(v, str) else v
                     for k, v in metadata.items()}
            changed = changed or clean != metadata
            metadata = clean
        if changed:
            metadata = dict(metadata or {})
            note = "text held NUL characters, which cannot be stored; they were removed"
            metadata["problems"] = f"{metadata['problems']}; {note}" if metadata.get("problems") else note
            data["metadata"] = metadata
        return data

    @property
    def identity_kind(self) -> IdentityKind:
        return self.sender_kind or CHANNEL_IDENTITY_KIND[self.channel]


class IngestResult(_Strict):
    message_id: int
    interaction_id: int
    customer_id: int
    duplicate: bool = Field(description="the contact had been ingested before; nothing was written")
    new_interaction: bool
    new_customer: bool


class Identity(_Strict):
    kind: IdentityKind
    value: str


class Customer(_Strict):
    id: int
    display_name: str | None
    tier: Tier
    notes: str | None
    opted_out_channels: list[Channel]
    identities: list[Identity]
    created_at: datetime
    preferred_channel: Channel | None = Field(None, description="where the customer wants to hear from us")


class Interaction(_Strict):
    id: int
    channel: Channel
    direction: Direction
    state: InteractionState
    endpoint: str
    queue: str | None
    priority: int
    customer_id: int
    assigned_agent: str | None
    subject: str | None
    created_at: datetime
    queued_at: datetime | None
    last_message_at: datetime
    closed_at: datetime | None


class Message(_Strict):
    id: int
    interaction_id: int
    channel: Channel
    direction: Direction
    external_id: str | None
    sender: str | None
    subject: str | None
    parts: list[ContentPart]
    attachments: list[str] = Field(description="attachment file names")
    created_at: datetime


class TimelineEvent(_Strict):
    id: int
    at: datetime
    kind: str
    customer_id: int | None
    interaction_id: int | None
    agent_id: int | None = None
    actor: str | None
    data: dict[str, Any]


class AdapterHealth(_Strict):
    ok: bool
    state: str = Field(description="starting, running, degraded, stopped")
    last_error: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class OutboundMessage(_Strict):
    """A reply taken from the outbox for an adapter to deliver (or a webhook delivery, whose
    text is the JSON body to post, for webhooks.py)."""

    outbox_id: int
    interaction_id: int | None = Field(description="None only for a webhook of a fact with no interaction")
    channel: Channel | Literal["webhook"]
    recipient: str
    subject: str | None = None
    parts: list[ContentPart] = Field(default_factory=list)
    attachments: list[Attachment] = Field(default_factory=list)
    thread_refs: list[str] = Field(default_factory=list)
    message_id: str | None = Field(None, description="our id for it (email: the Message-ID), the same on every retry")
    quote: str | None = Field(None, description="the message answered, quoted, to put under the reply")
    kind: str = Field("reply", description="reply, auto-reply, ...")
    attempt: int = Field(1, ge=1, description="1 the first time the outbox hands it over, then 2, 3...")


class DeliveryResult(_Strict):
    ok: bool
    external_id: str | None = None
    error: str | None = None
    retry: bool = Field(False, description="a transient failure: try again later")
    retry_after_s: float | None = Field(None, gt=0, description="when to try again; default: the outbox's backoff")
    detail: dict[str, Any] = Field(default_factory=dict, description="what the channel reports of the delivery "
                                   "(a fax's pages and result), put on the interaction's timeline")


PUBLIC_MODELS: tuple[type[BaseModel], ...] = (
    InboundContact,
    IngestResult,
    Customer,
    Interaction,
    Message,
    TimelineEvent,
    AdapterHealth,
    OutboundMessage,
    DeliveryResult,
)
