"""The use cases: ingest a contact, look up and maintain customer profiles.

No I/O here but the store. Adapters call `ingest()` and acknowledge upstream only after it
returns: by then the contact is committed.
"""

from __future__ import annotations

import logging

from psycopg.errors import UniqueViolation

from .clock import Clock, SystemClock
from .config import CicConfig
from .identity import normalise
from .models import Channel, Customer, IdentityKind, InboundContact, IngestResult, Tier, TimelineEvent
from .routing.ordering import rank_at
from .store import Store, customers, directory, timeline
from .store import ingest as store_ingest
from .store import routing as store_routing
from .store.directory import QueueRow
from .store.interactions import wake_routers

log = logging.getLogger(__name__)
INGEST_ATTEMPTS = 3


class IngestRefused(ValueError):
    """The contact cannot be queued as configured; the adapter must not acknowledge it."""


class Engine:
    def __init__(self, store: Store, cic: CicConfig, clock: Clock | None = None):
        self.store = store
        self.cic = cic
        self.clock = clock or SystemClock()
        self._queues: dict[str, QueueRow] = {}

    def load_directory(self) -> None:
        """Write the configured queues and seed agents, then cache the queue ids ingest needs."""
        with self.store.transaction() as conn:
            directory.sync_from_config(conn, self.cic)
            self._queues = directory.queues_by_name(conn)

    def _queue_for(self, contact: InboundContact) -> QueueRow:
        name = contact.queue or self.cic.engine.default_queue
        if not self._queues:
            with self.store.transaction() as conn:
                self._queues = directory.queues_by_name(conn)
        queue = self._queues.get(name)
        if queue is None:
            raise IngestRefused(f"no queue named {name!r} for {contact.channel} contact {contact.external_id!r}")
        if contact.channel.value not in queue.channels:
            raise IngestRefused(f"queue {name!r} does not take {contact.channel} contacts")
        return queue

    def ingest(self, contact: InboundContact) -> IngestResult:
        """Commit one inbound contact: customer, interaction, message and timeline in one transaction.

        Idempotent on (channel, external_id), also across processes: a redelivered contact
        returns the first ingest's ids with duplicate=True and writes nothing.
        Raises InvalidIdentity for a sender address that identifies nobody, IngestRefused
        when the target queue cannot take it.
        """
        kind = contact.identity_kind
        address = normalise(kind, contact.sender, contact.region or self.cic.engine.phone_region)
        queue = self._queue_for(contact) if contact.needs_agent else None
        for attempt in range(1, INGEST_ATTEMPTS + 1):
            try:
                return self._ingest_once(contact, kind.value, address, queue)
            except (UniqueViolation, store_ingest.InteractionClosedMeanwhile) as exc:
                # Another transaction won a race this one lost; the next attempt reads its result.
                if attempt == INGEST_ATTEMPTS:
                    raise
                log.info("ingest of %s %s retried: %s", contact.channel, contact.external_id, exc)
        raise AssertionError("unreachable")

    def _ingest_once(self, contact: InboundContact, kind: str, address: str, queue: QueueRow | None) -> IngestResult:
        now = self.clock.now()
        lock = customers.identity_lock_key(kind, address)
        with self.store.connection() as conn, store_ingest.transaction(conn):
            found = store_ingest.begin_and_resolve(conn, lock, contact, kind, address, now)
            if found.seen is not None:
                return IngestResult(
                    message_id=found.seen[0], interaction_id=found.seen[1], customer_id=found.seen[2],
                    duplicate=True, new_interaction=False, new_customer=False,
                )
            message_id, interaction_id, customer_id = store_ingest.write(
                conn, found, contact, kind, address,
                (queue.id, contact.priority + queue.priority) if queue else None, now,
            )
        log.debug("ingested %s %s as message %s of interaction %s", contact.channel, contact.external_id, message_id, interaction_id)
        return IngestResult(
            message_id=message_id, interaction_id=interaction_id, customer_id=customer_id,
            duplicate=False, new_interaction=found.continues is None, new_customer=found.customer_id is None,
        )

    # Customer profile -------------------------------------------------------------------

    def find_customer(self, kind: IdentityKind, raw: str, region: str | None = None) -> Customer | None:
        """Look a customer up by any identity, written any way (raises InvalidIdentity if it is none)."""
        value = normalise(kind, raw, region or self.cic.engine.phone_region)
        with self.store.transaction() as conn:
            customer_id = customers.find_id_by_identity(conn, kind.value, value)
            return customers.get(conn, customer_id) if customer_id is not None else None

    def get_customer(self, customer_id: int) -> Customer:
        with self.store.transaction() as conn:
            return customers.get(conn, customer_id)

    def merge_customers(self, survivor_id: int, merged_id: int, actor: str | None = None) -> Customer:
        with self.store.transaction() as conn:
            customers.merge(conn, survivor_id, merged_id, self.clock.now(), actor)
            return customers.get(conn, survivor_id)

    def reopen(self, interaction_id: int, why: str, actor: str | None = None) -> bool:
        """A closed interaction waits for an agent again (the customer wrote back): it joins its
        queue as a new arrival, and the router places it (sticky to its last agent if the queue
        says so). False when it was not closed."""
        now = self.clock.now()
        with self.store.transaction() as conn:
            row = conn.execute(
                """UPDATE interactions SET state = 'queued', closed_at = NULL, outcome = NULL, disposition = NULL,
                          assigned_agent_id = NULL, queued_at = %s, queue_entered_at = %s, rank_at = NULL,
                          overflow_step = 0, next_overflow_at = NULL, wrap_up_until = NULL, offered_to = '{}',
                          excluded_agents = '{}', callback = false
                   WHERE id = %s AND state = 'closed' RETURNING id""", (now, now, interaction_id)).fetchone()
            if row is None:
                return False
            store_routing.record(conn, "reopened", now, interaction_id, actor=actor, data={"why": why})
            wake_routers(conn, f"interaction:{interaction_id}")
        return True

    def set_tier(self, customer_id: int, tier: Tier, actor: str | None = None) -> None:
        """Also moves the customer's waiting interactions to their place for the new tier."""
        with self.store.transaction() as conn:
            customers.set_tier(conn, customer_id, tier, self.clock.now(), actor)
            waiting = store_routing.waiting_of_customer(conn, customer_id)
            for interaction_id, queued_at, priority in waiting:
                store_routing.update_waiting(conn, interaction_id,
                                             rank_at=rank_at(self.cic.routing, queued_at, priority, tier))
            if waiting:
                wake_routers(conn, f"customer:{customer_id}")

    def set_opt_out(self, customer_id: int, channel: Channel, opted_out: bool, actor: str | None = None) -> None:
        with self.store.transaction() as conn:
            customers.set_opt_out(conn, customer_id, channel, opted_out, self.clock.now(), actor)

    def customer_history(self, customer_id: int) -> list[TimelineEvent]:
        with self.store.transaction() as conn:
            return timeline.for_customer(conn, customer_id)
