"""Sends what the outbox holds for this node's adapters: one greenlet, woken by the
`outbox.queued` event (cic_events, through the node's EventListener) and by the next retry's time. A temporary failure is retried with exponential
backoff; a permanent one (or too many temporary ones) marks the message failed with the
adapter's reason, on the interaction's timeline."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable

import gevent
import psycopg
from gevent.event import Event

from . import logs
from .clock import Clock, SystemClock
from .models import Attachment, ContentPart, DeliveryResult, OutboundMessage
from .routing.events import EventListener, RoutingEvent
from .store import Store
from .store import outbox as store_outbox

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 8
BACKOFF_S = 30.0
MAX_BACKOFF_S = 3600.0
RECORD_RETRY_S, MAX_RECORD_RETRY_S = 0.2, 5.0  # recording a send's result while the database is away


def outbound_message(row: tuple) -> OutboundMessage:
    outbox_id, interaction_id, channel, _adapter, recipient, payload, attempts, external_id = row
    return OutboundMessage(
        outbox_id=outbox_id, interaction_id=interaction_id, channel=channel, recipient=recipient,
        subject=payload.get("subject"), parts=[ContentPart(body=payload.get("text", ""))],
        attachments=[Attachment(filename=a["filename"], content_type=a["content_type"],
                                content=base64.b64decode(a["content"])) for a in payload.get("attachments", [])],
        thread_refs=payload.get("thread_refs", []), message_id=external_id, quote=payload.get("quote"),
        kind=payload.get("kind", "reply"), attempt=max(1, attempts),
    )


class OutboxSender:
    def __init__(self, store: Store, events: EventListener,
                 deliverers: dict[str, Callable[[OutboundMessage], DeliveryResult]], clock: Clock | None = None,
                 backoff_s: float = BACKOFF_S, max_attempts: int = MAX_ATTEMPTS, node: str = "",
                 lease_s: float = 30.0):
        self.store = store
        self.events = events
        self.deliverers = deliverers
        self.clock = clock or SystemClock()
        self.backoff_s = backoff_s
        self.max_attempts = max_attempts
        self.node = node
        self.lease_s = lease_s
        self._wake: dict[str, Event] = {name: Event() for name in deliverers}
        self._senders: dict[str, gevent.Greenlet] = {}
        self._unsubscribe: Callable[[], None] | None = None

    def start(self) -> None:
        if not self.deliverers:
            return
        with self.store.connection() as conn:
            stuck = store_outbox.release_stuck(conn, list(self.deliverers), self.node, self.clock.now())
        if stuck:
            log.info("outbox: %d message(s) interrupted by the last stop are due again", stuck)
        self._unsubscribe = self.events.subscribe(self._queued)
        # One sender per adapter: a fax that takes minutes to transmit must not hold up an email.
        self._senders = {name: gevent.spawn(self._run, name) for name in self.deliverers}

    def add(self, name: str, deliver: Callable[[OutboundMessage], DeliveryResult]) -> None:
        """A new or restarted adapter (a reload): its messages are sent from now on, those its
        previous run was sending included."""
        self.remove(name)
        with self.store.connection() as conn:
            store_outbox.release_stuck(conn, [name], self.node, self.clock.now())
        self.deliverers[name] = deliver
        self._wake[name] = Event()
        if self._unsubscribe is None:
            self._unsubscribe = self.events.subscribe(self._queued)
        self._senders[name] = gevent.spawn(self._run, name)

    def remove(self, name: str, timeout: float = 30.0) -> None:
        """An adapter is stopping: its sender finishes the message in hand and stops (one still
        in hand after `timeout` is sent again when the adapter comes back)."""
        self.deliverers.pop(name, None)
        wake = self._wake.pop(name, None)
        if wake is not None:
            wake.set()
        sender = self._senders.pop(name, None)
        if sender is not None:
            sender.join(timeout)
            sender.kill()

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        gevent.killall(list(self._senders.values()), timeout=5)

    def _queued(self, event: RoutingEvent) -> None:
        if event.event == "outbox.queued" and event.data.get("adapter") in self._wake:
            self._wake[event.data["adapter"]].set()

    def _run(self, adapter: str) -> None:
        adapters = [adapter]
        wake = self._wake[adapter]
        deliver = self.deliverers[adapter]
        while self.deliverers.get(adapter) is deliver:  # until removed (or replaced) by a reload
            try:
                while self.deliverers.get(adapter) is deliver and self._send_one(adapters):
                    pass
                with self.store.connection() as conn:
                    due = store_outbox.next_due(conn, adapters)
            except (psycopg.Error, OSError) as exc:
                log.warning("outbox: database unavailable (%s)", exc)
                due = None
            wait = 5.0 if due is None else max(0.0, min(5.0, (due - self.clock.now()).total_seconds()))
            wake.wait(timeout=wait)
            wake.clear()

    def _renew(self, outbox_id: int) -> None:
        while True:
            gevent.sleep(self.lease_s / 3)
            try:
                with self.store.connection() as conn:
                    store_outbox.renew(conn, outbox_id, self.node, self.clock.now(), self.lease_s)
            except (psycopg.Error, OSError) as exc:
                log.warning("outbox %s: lease not renewed (%s)", outbox_id, exc)

    def _send_one(self, adapters: list[str]) -> bool:
        with self.store.connection() as conn:
            row = store_outbox.claim(conn, adapters[0], self.clock.now(), self.node, self.lease_s)
        if row is None:
            return False
        outbox_id, attempts, adapter = row[0], row[6], row[3]
        with logs.bound(outbox_id=outbox_id, interaction_id=row[1], adapter=adapter):
            return self._deliver(row, outbox_id, attempts, adapter)

    def _deliver(self, row: tuple, outbox_id: int, attempts: int, adapter: str) -> bool:
        # A fax may take minutes, and the database may be away when it is done: the lease must
        # outlive both, or another node would send the message again.
        renewing = gevent.spawn(self._renew, outbox_id)
        try:
            try:
                result = self.deliverers[adapter](outbound_message(row))
            except Exception as exc:  # an adapter bug must not stop the outbox
                log.exception("outbox %s: %s failed", outbox_id, adapter)
                result = DeliveryResult(ok=False, error=f"internal error: {type(exc).__name__}: {exc}", retry=True)
            self._record(outbox_id, attempts, result)
        finally:
            renewing.kill()
        return True

    def _record(self, outbox_id: int, attempts: int, result: DeliveryResult) -> None:
        """The send's result, recorded even if the database is away for a while: a message that
        went out but is not marked sent would go out again when its lease ran out."""
        wait = RECORD_RETRY_S
        while True:
            try:
                self._write_result(outbox_id, attempts, result)
                return
            except (psycopg.OperationalError, OSError) as exc:
                log.warning("outbox %s: the result is not recorded yet (%s); trying again in %.1fs", outbox_id,
                            exc, wait)
                gevent.sleep(wait)
                wait = min(MAX_RECORD_RETRY_S, wait * 2)

    def _write_result(self, outbox_id: int, attempts: int, result: DeliveryResult) -> None:
        now = self.clock.now()
        with self.store.transaction() as conn:
            if result.ok:
                store_outbox.sent(conn, outbox_id, result.external_id, now, result.detail)
            elif result.retry and attempts < self.max_attempts:
                after = result.retry_after_s or min(self.backoff_s * 2 ** (attempts - 1), MAX_BACKOFF_S)
                log.info("outbox %s: temporary failure (%s); retry in %.0fs", outbox_id, result.error, after)
                store_outbox.retry(conn, outbox_id, result.error or "temporary failure", after, now, attempts,
                                   result.detail)
            else:
                log.warning("outbox %s: failed: %s", outbox_id, result.error)
                store_outbox.failed(conn, outbox_id, result.error or "failed", now, detail=result.detail)
