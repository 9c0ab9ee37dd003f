"""The SMS channel over SMPP: one company number (or short code) per adapter file.

Inbound: every deliver_sm is committed before its deliver_sm_resp (SmppLink answers only after
this adapter returns). A part of a long message is kept in the database until the set is
complete, then the whole message is ingested. A delivery receipt is recorded on the part we
sent. STOP / 退订 / TD opt the customer out of SMS, START opts them in again.
Outbound: replies (any agent's, the outbox's) are split into parts (GSM 03.38 or UCS-2),
submitted within the window and rate, and their receipts put on the timeline.
"""

from __future__ import annotations

import hashlib
import logging
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..identity import InvalidIdentity
from ..models import (
    AdapterHealth,
    Channel,
    ContentPart,
    DeliveryResult,
    IdentityKind,
    InboundContact,
    OutboundMessage,
)
from ..sms import alphabet, keywords, receipts, segments
from ..sms.smpp import ESME_ROK, Inbound, SmppLink, SubmitFailed
from ..store import sms as store_sms
from ..store.routing import record
from . import AdapterContext
from .secret import Secret

log = logging.getLogger(__name__)
ESME_RINVSRCADR = 0x0A


class SmppSettings(Secret):
    host: str = "127.0.0.1"
    port: int = Field(2775, ge=1, le=65535)
    system_id: str = Field(min_length=1, max_length=15)
    system_type: str = Field("", max_length=12)
    window: int = Field(10, ge=1, le=1000, description="submits awaiting their answer at once")
    per_second: float = Field(50, gt=0, le=10_000, description="the carrier's messages-per-second limit")
    enquire_link_s: float = Field(30, ge=1, le=600)
    timeout_s: float = Field(10, gt=0, le=300)


class SmsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: str = Field(min_length=1, max_length=32, description="the company number or short code customers text")
    transport: Literal["smpp"] = "smpp"
    smpp: SmppSettings
    queue: str | None = None
    region: str | None = Field(None, min_length=2, max_length=2, description="for numbers without a country code")
    continue_within_s: float = Field(24 * 3600, ge=0, description="texts from one number within this continue "
                                                                   "the open conversation")
    parts_wait_s: float = Field(3600, gt=0, description="an incomplete long message is dropped after this")
    opt_out_keywords: list[str] = Field(default_factory=lambda: list(keywords.DEFAULT_OPT_OUT))
    opt_in_keywords: list[str] = Field(default_factory=lambda: list(keywords.DEFAULT_OPT_IN))
    receipts: bool = Field(True, description="ask the SMSC for delivery receipts")


class SmsAdapter:
    kind: ClassVar[str] = "sms"
    Config: ClassVar[type[BaseModel]] = SmsConfig

    def __init__(self, name: str, config: BaseModel, context: AdapterContext):
        assert isinstance(config, SmsConfig)
        self.name = name
        self.config = config
        self.context = context
        self.address = config.address
        self.received = 0
        self.sent = 0
        smpp = config.smpp
        self.link = SmppLink(smpp.host, smpp.port, smpp.system_id, smpp.read(f"{name}.smpp"), self._delivered,
                             system_type=smpp.system_type, window=smpp.window, per_second=smpp.per_second,
                             enquire_link_s=smpp.enquire_link_s, timeout_s=smpp.timeout_s, name=name)

    @property
    def store(self):
        return self.context.engine.store

    def start(self) -> None:
        self.link.start()

    def stop(self, timeout: float) -> None:
        self.link.stop()

    def health(self) -> AdapterHealth:
        bound = self.link.bound.is_set()
        return AdapterHealth(ok=bound, state="running" if bound else "degraded", last_error=self.link.last_error,
                             detail={"bound": bound, "binds": self.link.binds, "received": self.received,
                                     "sent": self.sent})

    # Inbound -------------------------------------------------------------------------------

    def _delivered(self, message: Inbound) -> int:
        """Runs before the deliver_sm_resp: what it returns is the answer's status."""
        if receipts.is_receipt(message.esm_class):
            self._receipt(message)
            return ESME_ROK
        part, payload = segments.read_part(message.short_message, message.esm_class, message.tlvs)
        now = self.context.engine.clock.now()
        if part is None:
            self._take(message.source, message.data_coding, payload, now)
            return ESME_ROK
        with self.store.transaction() as conn:
            whole = store_sms.add_part(conn, self.name, message.source, part.reference, part.total, part.seq,
                                       message.data_coding, payload, now, self.config.parts_wait_s)
        if whole is not None:
            body = b"".join(p for _, _, p in whole)
            self._take(message.source, whole[0][1], body, now, parts=len(whole))
            with self.store.transaction() as conn:
                store_sms.forget_set(conn, self.name, message.source, part.reference, part.total)
        return ESME_ROK

    def _take(self, sender: str, data_coding: int, body: bytes, now, parts: int = 1) -> None:
        text, problem = alphabet.decode(data_coding, body)
        word = keywords.keyword(text, tuple(self.config.opt_out_keywords), tuple(self.config.opt_in_keywords))
        # The SMSC names no id for a customer's text: the same text from the same number within
        # ten minutes is one message (a redelivery after our answer was lost).
        digest = hashlib.sha256(f"{sender}|{self.address}|{data_coding}|{now:%Y%m%d%H}{now.minute // 10}|".encode()
                                + body).hexdigest()[:32]
        metadata = {"adapter": self.name, "parts": str(parts), "data_coding": str(data_coding)}
        if problem:
            metadata["problems"] = problem
        if word:
            metadata["keyword"] = word
        contact = InboundContact(
            channel=Channel.sms, endpoint=self.address, external_id=f"smpp:{self.name}:{digest}", sender=sender,
            region=self.config.region, recipient=self.address, parts=[ContentPart(body=text)],
            continue_within_s=self.config.continue_within_s, queue=self.config.queue,
            needs_agent=word is None, metadata=metadata)
        try:
            result = self.context.engine.ingest(contact)
        except InvalidIdentity as exc:
            log.warning("%s: text from an unusable number %r kept under its raw sender: %s", self.name, sender, exc)
            metadata["problems"] = (metadata.get("problems", "") + f"; sender unusable: {exc}").strip("; ")
            result = self.context.engine.ingest(contact.model_copy(update={
                "sender": f"sms-{hashlib.sha256(sender.encode()).hexdigest()[:16]}", "sender_kind": IdentityKind.chat,
                "metadata": metadata}))
        self.received += 0 if result.duplicate else 1
        if word and not result.duplicate:
            self.context.engine.set_opt_out(result.customer_id, Channel.sms, word == "opt-out",
                                            actor=f"customer ({text.strip()[:20]})")

    def _receipt(self, message: Inbound) -> None:
        found = receipts.parse(message.short_message, message.tlvs)
        if found is None:
            log.warning("%s: a delivery receipt naming no message: %r", self.name, message.short_message[:200])
            return
        ids = receipts.id_forms(found.message_id)
        now = self.context.engine.clock.now()
        with self.store.transaction() as conn:
            done = store_sms.receipt(conn, self.name, ids, found.stat, found.outcome, found.error, now)
            if done is None:
                log.info("%s: receipt for %s kept until its submit is written", self.name, found.message_id)
                return
            interaction_id, outbox_id, states = done
            record(conn, "sms_receipt", now, interaction_id, data={
                "outbox_id": outbox_id, "stat": found.stat, "outcome": found.outcome, "error": found.error,
                "parts": states})

    # Outbound ------------------------------------------------------------------------------

    def deliver(self, outbound: OutboundMessage) -> DeliveryResult:
        with self.store.transaction() as conn:
            if store_sms.opted_out(conn, outbound.interaction_id):
                # Checked again at sending: an opt-out that came after the reply was written wins.
                return DeliveryResult(ok=False, error="the customer opted out of SMS (STOP); not sent")
        text = outbound.parts[0].body if outbound.parts else ""
        try:
            outgoing = segments.split(text, reference=outbound.outbox_id)
        except segments.MessageTooLong as exc:
            return DeliveryResult(ok=False, error=str(exc))
        destination = outbound.recipient.lstrip("+")
        try:
            ids = self.link.submit(outgoing, self.address, destination, receipt=self.config.receipts)
        except SubmitFailed as exc:
            return DeliveryResult(ok=False, error=str(exc), retry=exc.temporary)
        now = self.context.engine.clock.now()
        with self.store.transaction() as conn:
            for early in store_sms.submitted(conn, self.name, outbound.outbox_id, ids, now):
                record(conn, "sms_receipt", now, outbound.interaction_id, data={"outbox_id": outbound.outbox_id, **early})
        self.sent += 1
        return DeliveryResult(ok=True, external_id=f"smpp:{self.name}:{ids[0]}")

