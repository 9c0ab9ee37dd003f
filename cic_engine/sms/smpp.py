"""One SMPP 3.4 session to a carrier's SMSC, as an ESME bound as transceiver (python-smpplib,
on gevent's sockets): bind, enquire_link keep-alive, reconnect with backoff, a submit window
and a messages-per-second limit, throttling answers retried, and every deliver_sm handed to a
callback whose answer is the deliver_sm_resp status, so a message is acknowledged only after
the callback (which commits it) returns. Up to `inbound_window` deliver_sm are taken at once,
one sender's in order."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import gevent
import gevent.event
import gevent.lock
import gevent.pool
import gevent.socket
import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.smpp

from .segments import Outgoing

log = logging.getLogger(__name__)
ESME_ROK = 0x00
ESME_RTHROTTLED = 0x58
ESME_RMSGQFUL = 0x14
ESME_RX_T_APPN = 0x64  # "temporary application error": the SMSC delivers the message again later
TEMPORARY = {ESME_RTHROTTLED, ESME_RMSGQFUL, ESME_RX_T_APPN}


class SubmitFailed(RuntimeError):
    def __init__(self, message: str, temporary: bool):
        super().__init__(message)
        self.temporary = temporary


@dataclass(frozen=True)
class Inbound:
    """A deliver_sm as the callback sees it."""

    source: str  # international numbers (TON 1) with their +
    destination: str
    esm_class: int
    data_coding: int
    short_message: bytes
    tlvs: dict[int, bytes]


class GarbledPdu(smpplib.exceptions.ConnectionError):
    """The SMSC sent bytes smpplib cannot read as a PDU: the session is dropped and bound
    again (the stream may be out of step), never the link's greenlet."""


def parse_pdu(raw: bytes, client=None):
    """smpplib's PDU parser, whose failures (struct, index, unicode and key errors among them)
    become one error the link handles."""
    try:
        return smpplib.smpp.parse_pdu(raw, client=client, allow_unknown_opt_params=True)
    except Exception as exc:  # noqa: BLE001 - whatever the library raises on bad bytes
        raise GarbledPdu(f"the SMSC sent a PDU that cannot be read: {type(exc).__name__}: {exc}") from exc


class _CooperativeClient(smpplib.client.Client):
    """smpplib's client on gevent's socket, whether or not the process is monkey-patched: a
    blocking socket would stall every call and chat of the node while it waits for the SMSC."""

    def _create_socket(self):
        sock = gevent.socket.socket(gevent.socket.AF_INET, gevent.socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        return sock

    def read_pdu(self):
        try:
            return super().read_pdu()
        except (smpplib.exceptions.ConnectionError, smpplib.exceptions.PDUError, OSError):
            raise
        except Exception as exc:  # noqa: BLE001 - bad bytes from the SMSC
            raise GarbledPdu(f"the SMSC sent a PDU that cannot be read: {type(exc).__name__}: {exc}") from exc


class SmppLink:
    def __init__(self, host: str, port: int, system_id: str, password: str, on_deliver: Callable[[Inbound], int],
                 system_type: str = "", window: int = 10, per_second: float = 50.0, enquire_link_s: float = 30.0,
                 timeout_s: float = 10.0, throttle_retries: int = 5, name: str = "smpp", inbound_window: int = 10):
        self.host, self.port = host, port
        self.system_id, self.password, self.system_type = system_id, password, system_type
        self.on_deliver = on_deliver
        self.window = gevent.lock.BoundedSemaphore(window)
        self.min_interval = 1.0 / per_second
        self.enquire_link_s = enquire_link_s
        self.timeout_s = timeout_s
        self.throttle_retries = throttle_retries
        self.name = name
        self.bound = gevent.event.Event()
        self.last_error: str | None = None
        self.binds = 0
        self._client: smpplib.client.Client | None = None
        self._waiting: dict[int, gevent.event.AsyncResult] = {}
        self._send_lock = gevent.lock.Semaphore()
        self._wire = gevent.lock.Semaphore()
        self.inbound_window = inbound_window
        self._next_send = 0.0
        self._greenlet: gevent.Greenlet | None = None

    # Lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        self._greenlet = gevent.spawn(self._run)

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill()
            self._greenlet = None
        self._drop()

    def _run(self) -> None:
        backoff = 0.5
        while True:
            try:
                self._session()
                backoff = 0.5
            except (smpplib.exceptions.ConnectionError, OSError) as exc:
                self.last_error = f"connection: {exc or type(exc).__name__}"
            except smpplib.exceptions.PDUError as exc:
                # PDUError's args are (text, status): the text names the status, e.g. "Invalid Password".
                self.last_error = f"bind refused by the SMSC: {exc.args[0] if exc.args else exc}"
                backoff = 30.0  # a refused bind will be refused again right away
            finally:
                self._drop()
            log.warning("%s: %s; binding again in about %.1fs", self.name, self.last_error, backoff)
            gevent.sleep(backoff * random.uniform(0.5, 1.5))
            backoff = min(backoff * 2, 30.0)

    def _session(self) -> None:
        client = _CooperativeClient(self.host, self.port, timeout=self.enquire_link_s, allow_unknown_opt_params=True)
        client.set_message_received_handler(self._delivered)
        client.set_message_sent_handler(self._answered)
        client.set_error_pdu_handler(lambda pdu: None)  # statuses are read where the answer is awaited
        client.connect()
        self._client = client
        client.bind_transceiver(system_id=self.system_id, password=self.password, system_type=self.system_type)
        self.binds += 1
        self.last_error = None
        self.bound.set()
        log.info("%s: bound to %s:%s as %s", self.name, self.host, self.port, self.system_id)
        self._read(client)

    def _read(self, client) -> None:
        """The session's reader. deliver_sm are taken several at once (up to the window; one
        sender's in order, so that a long message's parts and a conversation keep their order),
        each answered when taken; everything else is handled here, in order."""
        pool = gevent.pool.Pool(self.inbound_window)
        senders: dict[str, gevent.lock.Semaphore] = {}
        try:
            while True:
                try:
                    pdu = client.read_pdu()
                except TimeoutError:  # quiet for enquire_link_s: is the SMSC still there?
                    self._write(client, smpplib.smpp.make_pdu("enquire_link", client=client))
                    continue
                if pdu.command == "deliver_sm":
                    source = _text(pdu.source_addr)
                    pool.spawn(self._take_in_turn, client, pdu, senders.setdefault(source, gevent.lock.Semaphore()))
                elif pdu.command == "submit_sm_resp":
                    self._answered(pdu)
                elif pdu.command == "enquire_link":
                    answer = smpplib.smpp.make_pdu("enquire_link_resp", client=client)
                    answer.sequence = pdu.sequence
                    self._write(client, answer)
                elif pdu.command == "unbind":
                    raise smpplib.exceptions.ConnectionError("the SMSC unbound")
                if len(senders) > 10_000:
                    senders = {k: v for k, v in senders.items() if v.locked()}
        finally:
            pool.kill()

    def _take_in_turn(self, client, pdu, turn: gevent.lock.Semaphore) -> None:
        with turn:
            status = self._delivered(pdu)
        answer = smpplib.smpp.make_pdu("deliver_sm_resp", client=client, status=status)
        answer.sequence = pdu.sequence
        try:
            self._write(client, answer)
        except smpplib.exceptions.ConnectionError:
            pass  # not answered: the SMSC delivers it again, and the store knows it

    def _write(self, client, pdu) -> None:
        with self._wire:  # one PDU on the wire at a time
            client.send_pdu(pdu)

    def _drop(self) -> None:
        self.bound.clear()
        client, self._client = self._client, None
        for waiting in self._waiting.values():
            waiting.set_exception(SubmitFailed("the SMPP session ended before the SMSC answered", temporary=True))
        self._waiting.clear()
        if client is not None:
            try:
                client.disconnect()
            except Exception:  # noqa: BLE001 - closing a broken session
                pass

    # Inbound -------------------------------------------------------------------------------

    def _delivered(self, pdu) -> int:
        tlvs = {}
        for name, tag in (("receipted_message_id", 0x001E), ("message_state", 0x0427),
                          ("sar_msg_ref_num", 0x020C), ("sar_total_segments", 0x020E), ("sar_segment_seqnum", 0x020F)):
            value = getattr(pdu, name, None)
            if value is not None:
                tlvs[tag] = value if isinstance(value, bytes) else _tlv_bytes(tag, value)
        source = _text(pdu.source_addr)
        if getattr(pdu, "source_addr_ton", 0) == 1 and source and not source.startswith("+"):
            source = "+" + source
        message = Inbound(source=source, destination=_text(pdu.destination_addr),
                          esm_class=pdu.esm_class or 0, data_coding=pdu.data_coding or 0,
                          short_message=pdu.short_message or b"", tlvs=tlvs)
        try:
            return self.on_deliver(message)
        except Exception:  # not stored: the SMSC must deliver it again
            log.exception("%s: an inbound message could not be taken; asking the SMSC to resend it", self.name)
            return ESME_RX_T_APPN

    # Outbound ------------------------------------------------------------------------------

    def _answered(self, pdu) -> None:
        waiting = self._waiting.pop(pdu.sequence, None)
        if waiting is not None:
            waiting.set((pdu.status, _text(getattr(pdu, "message_id", None) or b"")))

    def submit(self, outgoing: Outgoing, source: str, destination: str, receipt: bool = True) -> list[str]:
        """Submit every part; the SMSC's message ids, in order. Throttling answers are retried
        with backoff; SubmitFailed(temporary=...) otherwise."""
        return [self._submit_part(part, outgoing, source, destination, receipt) for part in outgoing.parts]

    def _submit_part(self, part: bytes, outgoing: Outgoing, source: str, destination: str, receipt: bool) -> str:
        for attempt in range(self.throttle_retries + 1):
            status, message_id = self._send(part, outgoing, source, destination, receipt)
            if status == ESME_ROK:
                return message_id
            description = smpplib.consts.DESCRIPTIONS.get(status, "unknown status")
            if status in TEMPORARY and attempt < self.throttle_retries:
                gevent.sleep(min(0.2 * 2 ** attempt, 10.0))
                continue
            raise SubmitFailed(f"SMSC answered {status:#04x} ({description})", temporary=status in TEMPORARY)
        raise AssertionError("unreachable")

    def _send(self, part: bytes, outgoing: Outgoing, source: str, destination: str, receipt: bool) -> tuple[int, str]:
        if not self.bound.wait(self.timeout_s):
            raise SubmitFailed(f"not bound to the SMSC ({self.last_error or 'connecting'})", temporary=True)
        with self.window:
            with self._send_lock:  # the messages-per-second limit, and one PDU on the wire at a time
                wait = self._next_send - time.monotonic()
                if wait > 0:
                    gevent.sleep(wait)
                self._next_send = max(self._next_send, time.monotonic()) + self.min_interval
                client = self._client
                if client is None:
                    raise SubmitFailed("the SMPP session ended", temporary=True)
                waiting = gevent.event.AsyncResult()
                pdu = smpplib.smpp.make_pdu(
                    "submit_sm", client=client, source_addr=source, destination_addr=destination,
                    source_addr_ton=1 if source.startswith("+") else 0, dest_addr_ton=1,
                    short_message=part, data_coding=outgoing.data_coding, esm_class=outgoing.esm_class,
                    registered_delivery=1 if receipt else 0)
                self._waiting[pdu.sequence] = waiting
                try:
                    self._write(client, pdu)
                except smpplib.exceptions.ConnectionError:
                    self._waiting.pop(pdu.sequence, None)
                    raise SubmitFailed("the connection to the SMSC broke while sending", temporary=True) from None
            try:
                return waiting.get(timeout=self.timeout_s)
            except gevent.Timeout:
                self._waiting.pop(pdu.sequence, None)
                raise SubmitFailed(f"no answer from the SMSC within {self.timeout_s}s", temporary=True) from None


def _text(value) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else str(value or "")


def _tlv_bytes(tag: int, value) -> bytes:
    if isinstance(value, int):
        return value.to_bytes(2 if tag == 0x020C else 1, "big")
    return str(value).encode("latin-1")
