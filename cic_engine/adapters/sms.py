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
import json
import logging
import os
import time
import urllib.error
import urllib.request
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from .. import poison
from ..identity import InvalidIdentity
from ..ingest_batch import IngestBatcher
from ..models import (
    AdapterHealth,
    Channel,
    ContentPart,
    DeliveryResult,
    IdentityKind,
    InboundContact,
    IngestResult,
    OutboundMessage,
)
from ..sms import alphabet, keywords, provider, receipts, segments
from ..sms.smpp import ESME_ROK, Inbound, SmppLink, SubmitFailed
from ..store import sms as store_sms
from ..store.routing import record
from ..web.access import SIGNED
from ..web.app import read_body
from . import AdapterContext
from .secret import Secret

log = logging.getLogger(__name__)
DUPLICATE_SLOT_S = 600


class SmppSettings(Secret):
    host: str = "127.0.0.1"
    port: int = Field(2775, ge=1, le=65535)
    system_id: str = Field(min_length=1, max_length=15)
    system_type: str = Field("", max_length=12)
    window: int = Field(10, ge=1, le=1000, description="submits awaiting their answer at once")
    per_second: float = Field(50, gt=0, le=10_000, description="the carrier's messages-per-second limit")
    enquire_link_s: float = Field(30, ge=1, le=600)
    timeout_s: float = Field(10, gt=0, le=300)


class HttpSettings(Secret):
    """The provider's API. `password*` is the webhook's signing secret; `token*` the send API's."""

    send_url: str = Field(pattern=r"^https?://", description="where replies are POSTed")
    send_body: str = Field('{"from": "{from}", "to": "{to}", "text": "{text}", "reference": "{reference}"}',
                           description="JSON template; placeholders {from} {to} {text} {reference}")
    token: SecretStr | None = None
    token_env: str | None = None
    auth_header: str = "Authorization"
    auth_scheme: str = "Bearer"
    id_response_field: str = Field("id", description="the provider's message id in its JSON answer")
    signature_header: str = "X-Signature"
    timestamp_header: str = "X-Timestamp"
    max_skew_s: float = Field(300, gt=0, le=3600)
    fields: dict[str, str] = Field(default_factory=lambda: {"id": "id", "from": "from", "to": "to", "text": "text"},
                                   description="our names (id, from, to, text) to the webhook's JSON fields")
    timeout_s: float = Field(10, gt=0, le=120)

    def read_token(self, what: str) -> str:
        if self.token_env:
            value = os.environ.get(self.token_env)
            if value is None:
                raise ValueError(f"{what}: environment variable {self.token_env} is not set")
            return value
        return self.token.get_secret_value() if self.token else ""


class SmsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: str = Field(min_length=1, max_length=32, description="the company number or short code customers text")
    transport: Literal["smpp", "http"] = "smpp"
    smpp: SmppSettings | None = None
    http: HttpSettings | None = None
    queue: str | None = None
    region: str | None = Field(None, min_length=2, max_length=2, description="for numbers without a country code")
    continue_within_s: float = Field(24 * 3600, ge=0, description="texts from one number within this continue "
                                                                   "the open conversation")
    parts_wait_s: float = Field(3600, gt=0, description="an incomplete long message is dropped after this")
    opt_out_keywords: list[str] = Field(default_factory=lambda: list(keywords.DEFAULT_OPT_OUT))
    opt_in_keywords: list[str] = Field(default_factory=lambda: list(keywords.DEFAULT_OPT_IN))
    receipts: bool = Field(True, description="ask the SMSC for delivery receipts")

    @model_validator(mode="after")
    def _transport_settings(self) -> SmsConfig:
        if getattr(self, self.transport) is None:
            raise ValueError(f"transport {self.transport!r} needs its [{self.transport}] settings")
        http = self.http
        if self.transport == "http" and http is not None and not (http.password or http.password_env or http.password_file):
            raise ValueError("transport 'http' needs the webhook's signing secret in [http] (password_env or "
                             "password_file): without it anyone could post texts as any number")
        return self


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
        self.link: SmppLink | None = None
        # Texts the SMSC delivers at once are committed together (one WAL flush), each answered after.
        self.batcher = IngestBatcher(context.engine)
        if config.smpp is not None and config.transport == "smpp":
            smpp = config.smpp
            self.link = SmppLink(smpp.host, smpp.port, smpp.system_id, smpp.read(f"{name}.smpp"), self._delivered,
                                 system_type=smpp.system_type, window=smpp.window, per_second=smpp.per_second,
                                 enquire_link_s=smpp.enquire_link_s, timeout_s=smpp.timeout_s, name=name)
        self.webhook_secret = config.http.read(f"{name}.http") if config.http and config.transport == "http" else ""
        if config.transport == "http" and not self.webhook_secret:
            raise ValueError(f"{name}.http: the webhook's signing secret is empty; refusing unsigned texts")

    @property
    def store(self):
        return self.context.engine.store

    def start(self) -> None:
        if self.link is not None:
            self.link.start()
        else:
            if self.context.web is None:
                raise RuntimeError("the http transport needs the node's web server for its webhook")
            self.context.web.route(f"/sms/{self.name}/inbound", self._webhook, ("POST",), allow=SIGNED)

    def stop(self, timeout: float) -> None:
        if self.link is not None:
            self.link.stop()

    def health(self) -> AdapterHealth:
        if self.link is None:
            return AdapterHealth(ok=True, state="running", detail={"received": self.received, "sent": self.sent})
        bound = self.link.bound.is_set()
        return AdapterHealth(ok=bound, state="running" if bound else "degraded", last_error=self.link.last_error,
                             detail={"bound": bound, "binds": self.link.binds, "received": self.received,
                                     "sent": self.sent})

    # Inbound -------------------------------------------------------------------------------

    def _delivered(self, message: Inbound) -> int:
        """Runs before the deliver_sm_resp: what it returns is the answer's status. A text that
        cannot be taken in for its own sake is recorded as rejected and answered OK (the SMSC
        would otherwise deliver it forever); an unreachable database makes the SMSC resend it."""
        try:
            return self._deliver_sm(message)
        except Exception as exc:
            if poison.unreachable(exc):
                raise
            self.context.engine.reject(Channel.sms, self.name, poison.reason(exc), {
                "via": "smpp", "from": message.source, "to": message.destination,
                "data_coding": str(message.data_coding), "esm_class": str(message.esm_class)}, message.short_message)
            return ESME_ROK

    def reingest(self, raw: bytes | None, source: dict[str, str]) -> int | None:
        body = raw or b""
        if source.get("via") == "http":
            return self._take_webhook(body).interaction_id
        # One part of a longer text is taken alone: its other parts went in (or were rejected) apart.
        _, payload = segments.read_part(body, int(source.get("esm_class", "0")), {})
        return self._take_pdu(source["from"], int(source.get("data_coding", "0")), payload,
                              self.context.engine.clock.now()).interaction_id

    def _deliver_sm(self, message: Inbound) -> int:
        if receipts.is_receipt(message.esm_class):
            self._receipt(message)
            return ESME_ROK
        part, payload = segments.read_part(message.short_message, message.esm_class, message.tlvs)
        now = self.context.engine.clock.now()
        if part is None:
            self._take_pdu(message.source, message.data_coding, payload, now)
            return ESME_ROK
        with self.store.transaction() as conn:
            whole = store_sms.add_part(conn, self.name, message.source, part.reference, part.total, part.seq,
                                       message.data_coding, payload, now, self.config.parts_wait_s)
        if whole is not None:
            body = b"".join(p for _, _, p in whole)
            self._take_pdu(message.source, whole[0][1], body, now, parts=len(whole))
            with self.store.transaction() as conn:
                store_sms.forget_set(conn, self.name, message.source, part.reference, part.total)
        return ESME_ROK

    def _webhook(self, request):
        """The provider's inbound webhook: signature, then commit, then 2xx. A retry of a
        webhook whose answer was lost carries the same id and is taken once."""
        http = self.config.http
        assert http is not None
        body = read_body(request, 256 * 1024, "a webhook")  # a text is small; a flood is not read whole
        try:
            provider.verify(self.webhook_secret, request.headers.get(http.timestamp_header),
                            request.headers.get(http.signature_header), body, time.time(), http.max_skew_s)
        except provider.WebhookRefused as exc:
            log.warning("%s: webhook refused: %s", self.name, exc)
            return exc.status, {"error": str(exc)}
        try:
            result = self._take_webhook(body)
        except Exception as exc:
            if poison.unreachable(exc):
                raise  # a 5xx: the provider sends it again
            # Signed, so the provider's own: acknowledged (or it would be sent forever), on record.
            rejected_id = self.context.engine.reject(Channel.sms, self.name, poison.reason(exc), {"via": "http"},
                                                     body)
            return 202, {"ok": False, "rejected": rejected_id, "error": str(exc)[:500]}
        return 200, {"ok": True, "duplicate": result.duplicate}

    def _take_webhook(self, body: bytes) -> IngestResult:
        """A signed webhook's text; its provider's id makes a retry the same message."""
        assert self.config.http is not None
        sms = provider.parse_inbound(body, self.config.http.fields)
        return self._take(sms.sender, sms.text, f"http:{self.name}:{sms.message_id}", {"via": "http"})

    def _take_pdu(self, sender: str, data_coding: int, body: bytes, now, parts: int = 1) -> IngestResult:
        """A text from the SMSC. It names no id for it: the same text from the same number
        within ten minutes is one message (a redelivery after our answer was lost). The id is
        the text's digest and its ten-minute slot; the slot before counts too, so a redelivery
        just across a slot's end is still found. (One sender's texts are taken in turn.)"""
        text, problem = alphabet.decode(data_coding, body)
        digest = hashlib.sha256(f"{sender}|{self.address}|{data_coding}|".encode() + body).hexdigest()[:32]
        slot = int(now.timestamp()) // DUPLICATE_SLOT_S
        ids = [f"smpp:{self.name}:{digest}:{s}" for s in (slot, slot - 1)]
        metadata = {"parts": str(parts), "data_coding": str(data_coding)}
        if problem:
            metadata["problems"] = problem
        return self._take(sender, text, ids[0], metadata, known_as=ids[1:])

    def _take(self, sender: str, text: str, external_id: str, metadata: dict[str, str],
              known_as: list[str] = ()) -> IngestResult:
        """Ingest one whole text (result.duplicate: it had been taken before)."""
        word = keywords.keyword(text, tuple(self.config.opt_out_keywords), tuple(self.config.opt_in_keywords))
        metadata = {"adapter": self.name, **metadata}
        if word:
            metadata["keyword"] = word
        contact = InboundContact(
            channel=Channel.sms, endpoint=self.address, external_id=external_id, sender=sender, region=self.config.region, recipient=self.address, parts=[ContentPart(body=text)],
            continue_within_s=self.config.continue_within_s, queue=self.config.queue,
            needs_agent=word is None, metadata=metadata)
        try:
            result = self.batcher.ingest(contact, known_as)
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
        return result

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
        if self.link is None:
            return self._send_http(outbound, text)
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


    def _send_http(self, outbound: OutboundMessage, text: str) -> DeliveryResult:
        http = self.config.http
        assert http is not None
        body = provider.render(http.send_body, {"from": self.address, "to": outbound.recipient, "text": text,
                                                "reference": str(outbound.outbox_id)})
        headers = {"Content-Type": "application/json"}
        token = http.read_token(f"{self.name}.http")
        if token:
            headers[http.auth_header] = f"{http.auth_scheme} {token}".strip()
        request = urllib.request.Request(http.send_url, data=body.encode(), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=http.timeout_s) as response:
                answer = response.read(65536)
        except urllib.error.HTTPError as exc:
            reason = f"provider answered {exc.code}: {exc.read(500).decode('utf-8', 'replace')}"
            return DeliveryResult(ok=False, error=reason, retry=exc.code >= 500 or exc.code == 429)
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            return DeliveryResult(ok=False, error=f"provider unreachable: {exc}", retry=True)
        try:
            found = json.loads(answer).get(http.id_response_field)
        except (ValueError, AttributeError):
            found = None
        self.sent += 1
        return DeliveryResult(ok=True, external_id=f"http:{self.name}:{found or outbound.outbox_id}")
