"""The fax channel on FreeSWITCH's mod_spandsp: one adapter file per switch (or per set of fax lines).

Inbound: the dialplan (freeswitch/dialplan/public/10_cic_fax.xml) answers a fax line and runs
`rxfax` into this adapter's spool directory, one file per call named by the call's UUID. On
`spandsp::rxfaxresult` the file becomes a fax interaction: the original TIFF, a PDF of it for the
inbox, the page count, the remote station id and spandsp's result. A failed or partial reception
is recorded with its result, never dropped; a file that cannot be read is recorded with the reason.
The spool file is removed only after the commit. A result the engine missed (it was down, or its
link to the switch was) is found by a sweep of the spool directory: a file whose call is over and
that is still there is taken in; the call's UUID is the interaction's id, so nothing is doubled.

Outbound: a reply on a fax interaction (its PDFs or TIFFs, the text as a cover page) is rendered
to a fax TIFF with Ghostscript and sent by `originate ... &txfax(file)`; a busy or unanswered line
and a failed transmission are retried as configured, each try and the result (pages sent, the
result text) on the interaction's timeline.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import time
import uuid as uuidlib
from pathlib import Path
from typing import ClassVar, Literal

import gevent
from gevent import subprocess as gsubprocess
from gevent.event import AsyncResult
from pydantic import BaseModel, ConfigDict, Field, field_validator

from .. import logs, poison
from ..esl.connection import Endpoint, ESLError, InboundConnection
from ..esl.dial import dial_template
from ..fax import document, kind_of, results
from ..identity import InvalidIdentity, normalise_phone
from ..models import (
    AdapterHealth,
    Attachment,
    Channel,
    ContentPart,
    DeliveryResult,
    IdentityKind,
    InboundContact,
    IngestResult,
    OutboundMessage,
)
from . import AdapterContext

log = logging.getLogger(__name__)
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_NAMESPACE = uuidlib.UUID("5b0f3c52-8f1e-4c51-9a9e-6d1c1f7a0fa1")
# Hang-up causes of an originate that mean "try again later" (FreeSWITCH's names).
RETRY_CAUSES = ("USER_BUSY", "NO_ANSWER", "NO_USER_RESPONSE", "NORMAL_CIRCUIT_CONGESTION", "RECOVERY_ON_TIMER_EXPIRE",
                "ORIGINATOR_CANCEL", "NETWORK_OUT_OF_ORDER", "DESTINATION_OUT_OF_ORDER")


class FaxConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    esl_host: str = "127.0.0.1"
    esl_port: int = Field(8021, ge=1, le=65535)
    esl_password: str = Field("ClueCon", min_length=1)
    queue: str | None = Field(None, description="queue for received faxes; default: engine.default_queue")
    numbers: list[str] = Field(default_factory=list, description="our fax numbers (the called number of a fax "
                               "call); empty: every rxfax into spool_dir is ours")
    region: str | None = Field(None, min_length=2, max_length=2, description="for numbers without a country code")
    spool_dir: str = Field("/var/spool/cic/fax/in", description="where the dialplan's rxfax writes (rx-${uuid}.tif); "
                           "the engine reads it there (same host or shared storage)")
    outbound_dir: str = Field("/var/spool/cic/fax/out", description="where the engine writes what txfax sends; "
                              "FreeSWITCH reads it there")
    dial: str = Field("sofia/gateway/pstn/{number}", description="dial string of a fax number (E.164); {number}")
    station_id: str = Field("", max_length=20, description="our fax station id (fax_ident), shown to the far end")
    header: str = Field("", max_length=60, description="the header line printed on every page we send")
    caller_id: str = Field("0000000000", max_length=40, description="the number the far end sees")
    encoding: Literal["g3", "g4"] = Field("g4", description="T.4 (g3) or T.6 (g4) compression of sent pages")
    paper: Literal["a4", "letter"] = "a4"
    attempts: int = Field(3, ge=1, le=8, description="tries of one fax, the first included")
    retry_delay_s: float = Field(300, gt=0, le=86400, description="wait between tries")
    retry_causes: list[str] = Field(default_factory=lambda: list(RETRY_CAUSES),
                                    description="originate failures that are tried again")
    retry_failed_transmission: bool = Field(True, description="try again when the fax started but did not finish")
    ring_timeout_s: float = Field(60, ge=5, le=600, description="how long the far end may take to answer")
    transmit_timeout_s: float = Field(1800, ge=10, le=7200, description="how long one transmission may take")
    sweep_every_s: float = Field(60, ge=0.2, le=3600, description="how often the spool directory is checked for "
                                 "faxes whose result the engine missed")
    sweep_after_s: float = Field(120, ge=0, le=86400, description="a spool file this old, whose call is over, "
                                 "is taken in by the sweep")
    command_timeout_s: float = Field(10, gt=0, le=120)

    @field_validator("dial")
    @classmethod
    def _has_number(cls, value: str) -> str:
        return dial_template(value, "number", "sofia/gateway/pstn/{number}")

    @field_validator("station_id")
    @classmethod
    def _t30_ident(cls, value: str) -> str:
        # T.30's TSI/CSI: up to 20 characters of digits, '+' and space.
        if not re.fullmatch(r"[0-9+ ]*", value):
            raise ValueError("a fax station id holds only digits, '+' and spaces (T.30)")
        return value

    @field_validator("header", "caller_id")
    @classmethod
    def _dial_safe(cls, value: str) -> str:
        if re.search(r"[{}',\]\[\n\r]", value):
            raise ValueError("must not contain { } [ ] ' , or line breaks (it goes into a dial string)")
        return value


class FaxAdapter:
    kind: ClassVar[str] = "fax"
    Config: ClassVar[type[BaseModel]] = FaxConfig

    def __init__(self, name: str, config: BaseModel, context: AdapterContext):
        assert isinstance(config, FaxConfig)
        self.name = name
        self.config = config
        self.context = context
        self.spool = Path(config.spool_dir)
        self.outbound = Path(config.outbound_dir)
        self.esl = InboundConnection(Endpoint(config.esl_host, config.esl_port, config.esl_password,
                                              events=(*results.FAX_EVENTS, "CHANNEL_HANGUP_COMPLETE", "BACKGROUND_JOB"),
                                              command_timeout_s=config.command_timeout_s), name=f"{name} ESL")
        self._transmitting: dict[str, AsyncResult] = {}  # our txfax channels' UUIDs -> their outcome
        self._taking: set[str] = set()  # received faxes being taken in (the event and a sweep may meet)
        self._sweeper: gevent.Greenlet | None = None
        self.received = 0
        self.sent = 0
        self.last_problem: str | None = None

    @property
    def store(self):
        return self.context.engine.store

    # Life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        queue = self.config.queue
        if queue is not None and queue not in {q.name for q in self.context.engine.cic.queues}:
            raise ValueError(f"fax adapter {self.name}: no queue named {queue!r} in cic.toml")
        if document.ghostscript() is None:
            raise ValueError(f"fax adapter {self.name}: Ghostscript (gs) is needed to send faxes; "
                             "install the ghostscript package")
        for label, path in (("spool_dir", self.spool), ("outbound_dir", self.outbound)):
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ValueError(f"fax adapter {self.name}: {label} {path}: {exc.strerror}") from None
            if not os.access(path, os.R_OK | os.W_OK | os.X_OK):
                raise ValueError(f"fax adapter {self.name}: {label} {path} is not readable and writable here")
        self.esl.on_event.append(self._event)
        self.esl.on_connected.append(self._sweep)
        self.esl.start()
        self._sweeper = gevent.spawn(self._sweep_forever)

    def stop(self, timeout: float) -> None:
        if self._sweeper is not None:
            self._sweeper.kill()
        self.esl.stop()

    def health(self) -> AdapterHealth:
        connected = self.esl.connected.is_set()
        return AdapterHealth(ok=connected, state="running" if connected else "degraded",
                             last_error=self.esl.last_error or self.last_problem,
                             detail={"received": self.received, "sent": self.sent,
                                     "transmitting": len(self._transmitting)})

    # Events -------------------------------------------------------------------------------

    def _event(self, event) -> None:
        kind = results.subclass(event)
        if kind == results.RX_RESULT:
            outcome = results.outcome(event)
            if self._ours(outcome.filename, outcome.destination) and outcome.uuid not in self._taking:
                self._taking.add(outcome.uuid)  # before the greenlet runs: a sweep now leaves it alone
                gevent.spawn(self._received, outcome)
        elif kind == results.TX_RESULT or event.name == "CHANNEL_HANGUP_COMPLETE":
            waiting = self._transmitting.get(event.get("Unique-ID") or "")
            if waiting is not None and not waiting.ready():
                # txfax reports its result before the hang-up; a hang-up alone means no fax was tried.
                waiting.set(results.outcome(event) if kind == results.TX_RESULT else event.get("Hangup-Cause"))

    # Inbound ------------------------------------------------------------------------------

    def _ours(self, path: str | None, destination: str | None) -> bool:
        if not path or Path(path).parent.resolve() != self.spool.resolve():
            return False  # another adapter's line, or a fax the dialplan did not give us
        # A file found by the sweep has no called number: being in our spool is enough.
        return destination is None or not self.config.numbers or destination in self.config.numbers

    def _received(self, outcome: results.FaxOutcome, missed: bool = False) -> None:
        """Take one fax in; the caller has put its UUID in _taking."""
        logs.bind(call_id=outcome.uuid, adapter=self.name)
        try:
            self._take_in(outcome, missed)
        except Exception as exc:
            if poison.unreachable(exc):
                # The file stays in the spool; the next sweep takes it in.
                self.last_problem = f"fax {outcome.uuid} not taken in yet: {exc}"
                log.warning("%s: %s", self.name, self.last_problem)
            else:
                self._poison(outcome, missed, exc)
        finally:
            self._taking.discard(outcome.uuid)

    def _poison(self, outcome: results.FaxOutcome, missed: bool, error: Exception) -> None:
        """A fax that cannot be taken in for its own sake: on record with its file, out of the
        spool (or every sweep would try it again)."""
        path = Path(outcome.filename or "")
        try:
            data = path.read_bytes()
        except OSError:
            data = None
        source = {"uuid": outcome.uuid, "from": outcome.caller or "", "to": outcome.destination or "",
                  "missed": "1" if missed else "0", "outcome": json.dumps(dataclasses.asdict(outcome))}
        self.context.engine.reject(Channel.fax, self.name, poison.reason(error), source, data)
        path.unlink(missing_ok=True)

    def reingest(self, raw: bytes | None, source: dict[str, str]) -> int | None:
        outcome = results.FaxOutcome(**json.loads(source["outcome"]))
        return self._ingest(outcome, raw or b"", source.get("missed") == "1").interaction_id

    def _take_in(self, outcome: results.FaxOutcome, missed: bool) -> None:
        assert outcome.filename is not None
        path = Path(outcome.filename)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            data = b""  # spandsp leaves no file when no page arrived
        result = self._ingest(outcome, data, missed)
        if not result.duplicate:
            self.received += 1
            log.info("fax %s from %s: %s -> interaction %s", outcome.uuid, outcome.caller, outcome.summary(),
                     result.interaction_id)
        try:
            path.unlink()
        except FileNotFoundError:
            pass

    def _ingest(self, outcome: results.FaxOutcome, data: bytes, missed: bool) -> IngestResult:
        pages, pdf, problem = gevent.get_hub().threadpool.apply(_render, (data,))
        contact = self._contact(outcome, data, pages, pdf, problem, missed)
        engine = self.context.engine
        try:
            return engine.ingest(contact)
        except InvalidIdentity:
            log.info("fax %s: caller number %r identifies nobody; taken as anonymous", outcome.uuid, outcome.caller)
            return engine.ingest(contact.model_copy(update={"sender": f"anonymous-fax-{outcome.uuid}",
                                                            "sender_kind": IdentityKind.chat}))

    def _contact(self, outcome: results.FaxOutcome, data: bytes, pages: document.FaxPages | None, pdf: bytes | None,
                 problem: str | None, missed: bool) -> InboundContact:
        sender = outcome.caller or "anonymous"
        station = outcome.remote_station or (pages.station_id if pages else None)
        count = pages.pages if pages else outcome.pages
        if missed:
            state = f"result not reported to the engine (it was offline); {count} page(s) in the file"
        elif outcome.success:
            state = f"{count} page{'s' if count != 1 else ''} received"
        else:
            state = f"reception failed: {outcome.text} ({outcome.pages} page(s) received)"
        problems = []
        if not missed and not outcome.success:
            problems.append(f"{'partial fax' if outcome.partial else 'fax failed'}: {outcome.text} "
                            f"(code {outcome.code})")
        if problem:
            problems.append(f"the received file cannot be shown: {problem}; the original file is attached")
        lines = [f"Fax from {sender}" + (f" (station {station})" if station else "") + f": {state}."]
        lines += [p[0].upper() + p[1:] + "." for p in problems]
        attachments = []
        if pdf:
            attachments.append(Attachment(filename=f"fax-{outcome.uuid}.pdf", content_type="application/pdf",
                                          content=pdf, derived=True))
        if data:
            attachments.append(Attachment(filename=f"fax-{outcome.uuid}.tif", content_type="image/tiff", content=data))
        metadata = {"adapter": self.name, "fax_pages": str(count), "fax_success": "1" if outcome.success else "0",
                    "fax_result_code": "" if outcome.code is None else str(outcome.code),
                    "fax_result_text": outcome.text, "fax_remote_station": station or "",
                    "fax_transfer_rate": outcome.transfer_rate or "", "fax_ecm": outcome.ecm or ""}
        if problems:
            metadata["problems"] = " ".join(lines[1:])
        return InboundContact(
            channel=Channel.fax, endpoint=outcome.destination or self.name, external_id=outcome.uuid,
            sender=sender, sender_name=outcome.caller_name if outcome.caller_name not in (None, sender) else None,
            region=self.config.region, recipient=outcome.destination,
            subject=f"Fax from {sender} ({count} page{'s' if count != 1 else ''})",
            parts=[ContentPart(body="\n".join(lines))], attachments=attachments, queue=self.config.queue,
            metadata=metadata)

    def _sweep_forever(self) -> None:
        while True:
            gevent.sleep(self.config.sweep_every_s)
            self._sweep()

    def _sweep(self) -> None:
        """Take in the spool files whose result event the engine never heard."""
        if not self.esl.connected.is_set():
            return  # without the switch, a file's call cannot be known to be over
        cutoff = time.time() - self.config.sweep_after_s
        try:
            entries = [p for p in self.spool.iterdir() if p.suffix.lower() in (".tif", ".tiff")]
        except OSError as exc:
            self.last_problem = f"spool directory {self.spool}: {exc.strerror}"
            return
        for path in entries:
            found = _UUID.search(path.name)
            try:
                old = path.stat().st_mtime <= cutoff
            except FileNotFoundError:
                continue  # taken in meanwhile
            if found is None or not old or found.group() in self._taking:
                continue
            try:
                live = self.esl.api(f"uuid_exists {found.group()}").strip() == "true"
            except ESLError:
                return
            if not live and found.group() not in self._taking:
                log.warning("%s: fax %s has no reported result; taking its file in", self.name, path.name)
                self._taking.add(found.group())
                self._received(_missed(found.group(), str(path)), missed=True)

    # Outbound -----------------------------------------------------------------------------

    def deliver(self, outbound: OutboundMessage) -> DeliveryResult:
        pdfs, refused = _documents(outbound)
        if refused:
            return DeliveryResult(ok=False, error=refused)
        text = outbound.parts[0].body.strip() if outbound.parts else ""
        if not pdfs and not text:
            return DeliveryResult(ok=False, error="nothing to fax: attach a PDF or write a cover page")
        try:
            number = normalise_phone(outbound.recipient, self.config.region or self.context.engine.cic.engine.phone_region)
        except InvalidIdentity as exc:
            return DeliveryResult(ok=False, error=f"not a fax number: {exc}")
        if text:
            cover = [f"To: {number}", f"From: {self.config.header or self.config.station_id or self.name}",
                     f"Date: {self.context.engine.clock.now():%Y-%m-%d %H:%M} UTC", "", *text.splitlines()]
            pdfs.insert(0, document.cover_page(cover, self.config.paper))
        attempt, tries = outbound.attempt, self.config.attempts
        channel_uuid = str(uuidlib.uuid5(_NAMESPACE, f"{self.name}:{outbound.outbox_id}:{attempt}"))
        path = self.outbound / f"tx-{outbound.outbox_id}-{attempt}.tif"
        waiting = self._transmitting[channel_uuid] = AsyncResult()
        try:
            earlier = self._still_sending(outbound)
            if earlier is not None:  # the engine restarted while a try of this fax was on the line
                self._transmitting.pop(channel_uuid, None)
                channel_uuid, waiting = earlier, self._transmitting[earlier]
                answer = "+OK"
            else:
                try:
                    rendered = document.render_for_fax(pdfs, str(path), self.config.encoding, self.config.paper,
                                                       run=gsubprocess.run)
                except document.RenderError as exc:
                    return DeliveryResult(ok=False, error=str(exc))
                answer = self._originate(channel_uuid, number, path)
                log.info("fax outbox %s try %d: %d page(s) to %s: %s", outbound.outbox_id, attempt, rendered.pages,
                         number, answer.strip())
            if not answer.startswith("+OK"):
                cause = answer.removeprefix("-ERR").strip() or "no answer from the switch"
                return self._failed(f"the call did not connect: {cause}", attempt, tries,
                                    cause in self.config.retry_causes, {"cause": cause})
            try:
                ended = waiting.get(timeout=self.config.transmit_timeout_s)
            except gevent.Timeout:
                return self._failed(f"no fax result within {self.config.transmit_timeout_s:.0f}s", attempt, tries,
                                    True, {})
            if not isinstance(ended, results.FaxOutcome):
                return self._failed(f"the call ended before the fax started ({ended})", attempt, tries,
                                    self.config.retry_failed_transmission, {"cause": ended or ""})
            detail = {"pages_sent": ended.pages, "pages": ended.total_pages or ended.pages, "result": ended.text,
                      "result_code": ended.code, "remote_station": ended.remote_station or "", "attempt": attempt}
            if not ended.success:
                return self._failed(f"fax not sent: {ended.text} ({ended.summary()})", attempt, tries,
                                    self.config.retry_failed_transmission, detail)
            self.sent += 1
            return DeliveryResult(ok=True, external_id=f"fax:{channel_uuid}", detail=detail)
        finally:
            self._transmitting.pop(channel_uuid, None)
            try:
                path.unlink()
            except FileNotFoundError:
                pass

    def _originate(self, channel_uuid: str, number: str, path: Path) -> str:
        c = self.config
        variables = [f"origination_uuid={channel_uuid}", f"origination_caller_id_number={c.caller_id}",
                     "ignore_early_media=true", f"originate_timeout={int(c.ring_timeout_s)}"]
        if c.station_id:
            variables.append(f"fax_ident='{c.station_id}'")
        if c.header:
            variables.append(f"fax_header='{c.header}'")
        dial = c.dial.format(number=number)
        try:
            job = self.esl.bgapi(f"originate {{{','.join(variables)}}}{dial} &txfax({path})", str(uuidlib.uuid4()))
            return job.get(timeout=c.ring_timeout_s + c.command_timeout_s) or ""
        except (ESLError, gevent.Timeout) as exc:
            return f"-ERR {exc or 'no answer from the switch'}"

    def _still_sending(self, outbound: OutboundMessage) -> str | None:
        """The UUID of the previous try of this fax if its call is still up (the engine stopped
        while it was sending): that try's result is waited for instead of dialling again."""
        if outbound.attempt < 2:
            return None
        previous = str(uuidlib.uuid5(_NAMESPACE, f"{self.name}:{outbound.outbox_id}:{outbound.attempt - 1}"))
        self._transmitting.setdefault(previous, AsyncResult())
        try:
            if self.esl.api(f"uuid_exists {previous}").strip() == "true":
                return previous
        except ESLError:
            pass
        self._transmitting.pop(previous, None)
        return None

    def _failed(self, error: str, attempt: int, tries: int, retry: bool, detail: dict) -> DeliveryResult:
        again = retry and attempt < tries
        error = f"{error} (try {attempt} of {tries}{'; trying again' if again else ''})"
        return DeliveryResult(ok=False, error=error, retry=again, retry_after_s=self.config.retry_delay_s if again
                              else None, detail={**detail, "attempt": attempt, "error": error})


def _render(data: bytes) -> tuple[document.FaxPages | None, bytes | None, str | None]:
    """(pages, PDF, problem) of a received file; off the hub: decoding pages takes milliseconds each."""
    if not data:
        return None, None, None
    try:
        return document.read_tiff(data), document.tiff_to_pdf(data), None
    except document.UnreadableFax as exc:
        return None, None, str(exc)


def _documents(outbound: OutboundMessage) -> tuple[list[bytes], str | None]:
    """The reply's files as PDFs (a TIFF becomes one), or why one cannot be faxed."""
    pdfs = []
    for file in outbound.attachments:
        kind = kind_of(file.content)
        if kind == "pdf":
            pdfs.append(file.content)
        elif kind == "tiff":
            try:
                pdfs.append(document.tiff_to_pdf(file.content))
            except document.UnreadableFax as exc:
                return [], f"{file.filename}: {exc}"
        else:
            return [], f"{file.filename} cannot be faxed: send PDF or TIFF documents"
    return pdfs, None


def _missed(channel_uuid: str, path: str) -> results.FaxOutcome:
    """What is known of a received fax whose result event never reached the engine: its file."""
    return results.FaxOutcome(uuid=channel_uuid, success=True, code=None, text="result not reported", pages=0,
                              total_pages=None, remote_station=None, local_station=None, transfer_rate=None, ecm=None,
                              filename=path, caller=None, caller_name=None, destination=None, hangup_cause=None)
