"""Live routing events (interaction.queued, .offered, .accepted, ..., agent.state) for the web
layer: each node LISTENs on cic_events and hands every event to its subscribers.

The events are NOTIFYed by the statements that make the change (cic_record, the agents
trigger), so they arrive once committed, on every node, in commit order. The timeline holds
the same facts durably; an event is a push, not the record.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import gevent
import gevent.event
import psycopg
from pydantic import BaseModel, ConfigDict, Field, ValidationError

log = logging.getLogger(__name__)
EVENTS_CHANNEL = "cic_events"


class RoutingEvent(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    event: str = Field(description="interaction.<timeline kind> or agent.state")
    at: datetime
    id: int | None = Field(None, description="the timeline row, when there is one")
    interaction_id: int | None = None
    agent_id: int | None = None
    customer_id: int | None = None
    actor: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


Subscriber = Callable[[RoutingEvent], None]


def parse(payload: str) -> RoutingEvent | None:
    try:
        return RoutingEvent.model_validate(json.loads(payload))
    except (ValueError, ValidationError) as exc:
        log.error("unreadable routing event %.200r: %s", payload, exc)
        return None


class EventListener:
    """One LISTEN connection per node; reconnects with backoff. Subscribers run in the listener's
    greenlet and must not block."""

    def __init__(self, url: str):
        self.url = url
        self._subscribers: list[Subscriber] = []
        # Subscribers to one interaction's events (a chat widget's socket): found by id, so that
        # thousands of them cost nothing for the events of other interactions.
        self._watchers: dict[int, list[Subscriber]] = {}
        self._greenlet: gevent.Greenlet | None = None
        self.listening = gevent.event.Event()

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber)

    def watch(self, interaction_id: int, subscriber: Subscriber) -> Callable[[], None]:
        """Call `subscriber` with the events of one interaction; returns the way to stop."""
        self._watchers.setdefault(interaction_id, []).append(subscriber)

        def stop() -> None:
            watchers = self._watchers.get(interaction_id, [])
            if subscriber in watchers:
                watchers.remove(subscriber)
            if not watchers:
                self._watchers.pop(interaction_id, None)
        return stop

    def start(self) -> None:
        self._greenlet = gevent.spawn(self._run)

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill()
            self._greenlet = None

    def _run(self) -> None:
        backoff = 0.5
        while True:
            try:
                with psycopg.connect(self.url, autocommit=True, application_name="cic-events") as conn:
                    conn.execute(f"LISTEN {EVENTS_CHANNEL}")
                    self.listening.set()
                    backoff = 0.5
                    for note in conn.notifies():
                        event = parse(note.payload)
                        if event is not None:
                            self._dispatch(event)
            except (psycopg.Error, OSError) as exc:
                self.listening.clear()
                log.warning("event listener: database unavailable (%s); retrying in %.1fs", exc, backoff)
                gevent.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    def _dispatch(self, event: RoutingEvent) -> None:
        watchers = self._watchers.get(event.interaction_id, ()) if event.interaction_id is not None else ()
        for subscriber in [*self._subscribers, *watchers]:
            try:
                subscriber(event)
            except Exception:
                log.exception("event subscriber failed on %s", event.event)
