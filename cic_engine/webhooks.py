"""Webhooks to the company's systems. A trigger writes one outbox row per subscriber with each
timeline fact they subscribed to (schemas/sql/0018_integrations.sql), in the fact's own
transaction; the outbox sender delivers them like replies (leased, retried with backoff,
recorded), one sender per subscription, so a slow receiver holds up only its own deliveries.

A delivery is a POST of the event's JSON, signed as signing.py says, with the delivery's id in
`X-CIC-Delivery`: the same id on every attempt, so a receiver that saw it already (the engine
stopped before it recorded the 2xx) knows it is a repeat. Delivery is at least once, and in
order per interaction (per case or agent for facts without one)."""

from __future__ import annotations

import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable

import gevent
import psycopg

from .http_requests import urlopen
from .models import DeliveryResult, OutboundMessage
from .routing.events import RoutingEvent
from .signing import sign
from .store import Store
from .store import integrations as store_integrations

log = logging.getLogger(__name__)
TIMEOUT_S = 10.0
ADAPTER_PREFIX = "webhook:"
# Events a subscription may name (the timeline kinds behind them: cic_webhook_event in SQL).
EVENTS = ("interaction.opened", "interaction.offered", "interaction.accepted", "interaction.closed",
          "message.received", "message.sent", "case.changed", "survey.answered", "agent.state")
SIGNATURE_HEADER, TIMESTAMP_HEADER = "X-CIC-Signature", "X-CIC-Timestamp"
DELIVERY_HEADER, EVENT_HEADER = "X-CIC-Delivery", "X-CIC-Event"


class WebhookDeliverer:
    """Delivers one subscription's events; its url and secret may change under it (an admin
    edited the subscription) without stopping its sender."""

    def __init__(self, url: str, secret: str, timeout_s: float = TIMEOUT_S):
        self.url = url
        self.secret = secret
        self.timeout_s = timeout_s

    def __call__(self, message: OutboundMessage) -> DeliveryResult:
        body = message.parts[0].body.encode() if message.parts else b"{}"
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", "User-Agent": "cic-engine-webhooks",
                   DELIVERY_HEADER: str(message.outbox_id), TIMESTAMP_HEADER: timestamp,
                   SIGNATURE_HEADER: sign(self.secret, timestamp, body)}
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urlopen(request, timeout=self.timeout_s) as response:
                response.read(4096)
                return DeliveryResult(ok=True)
        except urllib.error.HTTPError as exc:
            # A receiver that is overloaded or restarting says so; any other 4xx is an answer
            # that a retry would not change (it is in the log, to be replayed once fixed).
            retry = exc.code >= 500 or exc.code in (408, 429)
            after = _retry_after(exc.headers.get("Retry-After")) if retry else None
            moved = " (redirects are not followed: subscribe the address it names)" if 300 <= exc.code < 400 else ""
            return DeliveryResult(ok=False, retry=retry, retry_after_s=after,
                                  error=f"receiver answered {exc.code} {exc.reason}{moved}")
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            return DeliveryResult(ok=False, retry=True, error=f"receiver unreachable: {reason}")


def _retry_after(value: str | None) -> float | None:
    try:
        seconds = float(value) if value else None
    except ValueError:
        return None
    return min(seconds, 3600.0) if seconds and seconds > 0 else None


class Webhooks:
    """Keeps one outbox sender per subscription on this node, in step with the subscriptions
    table: loaded at start, and again whenever any node changes it (webhooks.changed)."""

    def __init__(self, store: Store, add: Callable[[str, Callable[[OutboundMessage], DeliveryResult]], None],
                 remove: Callable[[str], None], timeout_s: float = TIMEOUT_S):
        self.store = store
        self._add = add
        self._remove = remove
        self.timeout_s = timeout_s
        self.deliverers: dict[str, WebhookDeliverer] = {}

    def load(self) -> None:
        try:
            with self.store.transaction() as conn:
                rows = store_integrations.senders(conn)
        except (psycopg.Error, OSError) as exc:
            log.warning("webhooks: subscriptions not loaded (%s); kept as they were", exc)
            return
        wanted = {f"{ADAPTER_PREFIX}{sub_id}": (url, secret) for sub_id, url, secret in rows}
        for name in set(self.deliverers) - set(wanted):
            self.deliverers.pop(name)
            self._remove(name)
        for name, (url, secret) in wanted.items():
            known = self.deliverers.get(name)
            if known is not None:
                known.url, known.secret = url, secret
                continue
            self.deliverers[name] = WebhookDeliverer(url, secret, self.timeout_s)
            self._add(name, self.deliverers[name])

    def on_event(self, event: RoutingEvent) -> None:
        if event.event == "webhooks.changed":
            gevent.spawn(self.load)  # it reads the database: not in the listener's greenlet
