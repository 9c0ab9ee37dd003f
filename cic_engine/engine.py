"""The use cases: ingest a contact, look up and maintain customer profiles.

No I/O here but the store. Adapters call `ingest()` and acknowledge upstream only after it
returns: by then the contact is committed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from psycopg.errors import UniqueViolation

from .clock import Clock, SystemClock
from .config import CicConfig
from .identity import InvalidIdentity, normalise
from .models import (
    Channel,
    Customer,
    IdentityKind,
    InboundContact,
    IngestResult,
    Tier,
    TimelineEvent,
    storable,
)
from .routing.ordering import rank_at
from .store import Store, advisory_key, customers, directory, timeline
from .store import ingest as store_ingest
from .store import rejected as store_rejected
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
        # Each contact passes through these first (a survey's answer needs no agent).
        self.before_ingest: list[Callable[[InboundContact], InboundContact]] = []
        # Called with each batch's contacts and results once committed (cases take a customer's messages).
        self.after_ingest: list[Callable[[Sequence[InboundContact], list[IngestResult | Exception]], None]] = []

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

    def ingest(self, contact: InboundContact, known_as: Sequence[str] = ()) -> IngestResult:
        """Commit one inbound contact: customer, interaction, message and timeline in one transaction.

        Idempotent on (channel, external_id), also across processes: a redelivered contact
        returns the first ingest's ids with duplicate=True and writes nothing. `known_as`: other
        external ids under which the same contact may have been taken before (an SMS's earlier
        de-duplication slot). Raises InvalidIdentity for a sender address that identifies nobody,
        IngestRefused when the target queue cannot take it.
        """
        for attempt in range(1, INGEST_ATTEMPTS + 1):
            try:
                result = self.ingest_many([contact], [known_as])[0]
            except (UniqueViolation, store_ingest.InteractionClosedMeanwhile) as exc:
                # Another transaction won a race this one lost; the next attempt reads its result.
                if attempt == INGEST_ATTEMPTS:
                    raise
                log.info("ingest of %s %s retried: %s", contact.channel, contact.external_id, exc)
                continue
            if isinstance(result, Exception):
                raise result
            return result
        raise AssertionError("unreachable")

    def ingest_many(self, contacts: Sequence[InboundContact],
                    known_as: Sequence[Sequence[str]] | None = None) -> list[IngestResult | Exception]:
        """Several contacts in one transaction: one commit, so one WAL flush, for all of them.
        Results in order; a contact that cannot be taken (its sender identifies nobody, its queue
        does not take it) gets its exception in its place. Raises when the transaction fails (a
        race lost, the database gone): nothing of the batch is written, and the caller may take
        the contacts one by one."""
        for classify in self.before_ingest:
            contacts = [classify(c) for c in contacts]
        results: list[IngestResult | Exception | None] = [None] * len(contacts)
        work = []
        for n, contact in enumerate(contacts):
            try:
                kind = contact.identity_kind
                address = normalise(kind, contact.sender, contact.region or self.cic.engine.phone_region)
                queue = self._queue_for(contact) if contact.needs_agent else None
            except (InvalidIdentity, IngestRefused) as exc:
                results[n] = exc
                continue
            work.append((customers.identity_lock_key(kind.value, address), n, contact, kind.value, address, queue))
        # Sender locks in one order, so two batches never wait on each other in a circle; the
        # sort is stable, so one sender's contacts keep their order.
        work.sort(key=lambda item: advisory_key(item[0]))
        aliases = {n: list(known_as[n]) for n in range(len(contacts)) if known_as and known_as[n]}
        if not work:
            return results  # type: ignore[return-value]
        now = self.clock.now()
        wanted = [a for _, n, *_ in work for a in aliases.get(n, [])]
        # Rounds of distinct senders: a sender's second contact must read what its first wrote.
        rounds: list[list[tuple]] = []
        depth: dict[str, int] = {}
        for item in work:
            level = depth[item[0]] = depth.get(item[0], -1) + 1
            if level == len(rounds):
                rounds.append([])
            rounds[level].append(item)
        with self.store.connection() as conn, store_ingest.transaction(conn):
            begun, earlier = False, {}
            for level in rounds:
                # The first round's reads open the transaction and look the other ids up too.
                resolved, taken_as = store_ingest.resolve(
                    conn, [(lock, c, kind, address) for lock, _, c, kind, address, _ in level], now, begin=not begun,
                    known=(work[0][2].channel.value, wanted) if wanted and not begun else None)
                begun = True
                earlier.update(taken_as)
                to_write = []
                for (_, n, contact, kind, address, queue), found in zip(level, resolved, strict=True):
                    seen = next((earlier[a] for a in aliases.get(n, []) if a in earlier), found.seen)
                    if seen is not None:
                        results[n] = _duplicate(seen)
                    else:
                        to_write.append((n, found, contact, kind, address,
                                         (queue.id, contact.priority + queue.priority) if queue else None))
                if not to_write:
                    continue
                written = store_ingest.write(conn, [item[1:] for item in to_write], now,
                                             commit=level is rounds[-1])
                for (n, found, *_), (message_id, interaction_id, customer_id) in zip(to_write, written, strict=True):
                    results[n] = IngestResult(
                        message_id=message_id, interaction_id=interaction_id, customer_id=customer_id,
                        duplicate=False, new_interaction=found.continues is None,
                        new_customer=found.customer_id is None)
        log.debug("ingested %d contact(s) in one transaction", len(work))
        for hook in self.after_ingest:
            try:
                hook(contacts, results)  # type: ignore[arg-type]
            except Exception:  # the contacts are committed: a hook's failure must not undo their answer
                log.exception("after-ingest hook %r failed", hook)
        return results  # type: ignore[return-value]

    # Customer profile -------------------------------------------------------------------

    def reject(self, channel: Channel | str, adapter: str, why: str, source: dict[str, str],
               raw: bytes | None) -> int:
        """Keep a contact that cannot be taken in (poison.py): its bytes, where it came from and
        why, for a supervisor to see and re-ingest. The same one again counts on its record."""
        channel = channel.value if isinstance(channel, Channel) else channel
        source = {storable(str(k))[:100]: storable(str(v))[:8000] for k, v in source.items()}
        with self.store.transaction() as conn:
            rejected_id = store_rejected.record(conn, channel, adapter, storable(why)[:4000], source, raw,
                                                self.clock.now())
        log.warning("%s: %s contact rejected as #%s (%s): %s", adapter, channel, rejected_id, source, why)
        return rejected_id

    def find_customer(self, kind: IdentityKind, raw: str, region: str | None = None) -> Customer | None:
        """Look a customer up by any identity, written any way (raises InvalidIdentity if it is none)."""
        value = normalise(kind, raw, region or self.cic.engine.phone_region)
        with self.store.transaction() as conn:
            customer_id = customers.find_id_by_identity(conn, kind.value, value)
            return customers.get(conn, customer_id) if customer_id is not None else None

    def get_customer(self, customer_id: int) -> Customer:
        with self.store.transaction() as conn:
            return customers.get(conn, customer_id)

    def add_identity(self, customer_id: int, kind: IdentityKind, raw: str, actor: str | None = None) -> Customer:
        """Another address of the customer; raises InvalidIdentity, or customers.IdentityTaken when
        it is another customer's."""
        value = normalise(kind, raw, self.cic.engine.phone_region)
        with self.store.transaction() as conn:
            customers.add_identity(conn, customer_id, kind.value, value, self.clock.now(), actor)
            return customers.get(conn, customer_id)

    def set_preferred_channel(self, customer_id: int, channel: Channel | None, actor: str | None = None) -> None:
        with self.store.transaction() as conn:
            customers.set_preferred_channel(conn, customer_id, channel, self.clock.now(), actor)

    def merge_customers(self, survivor_id: int, merged_id: int, actor: str | None = None) -> Customer:
        with self.store.transaction() as conn:
            customers.merge(conn, survivor_id, merged_id, self.clock.now(), actor)
            return customers.get(conn, survivor_id)

    def identity_proved(self, kind: IdentityKind, value: str, proved: IdentityKind, raw: str,
                        actor: str | None = None) -> int | None:
        """The customer known by (kind, value), e.g. a chat, proved they hold another address:
        the two profiles become one (the address's survives), or the address joins the first.
        Returns the customer, or None when the first identity has no profile yet."""
        with self.store.transaction() as conn:
            first = customers.find_id_by_identity(conn, kind.value, value)
            owner = customers.find_id_by_identity(conn, proved.value, normalise(proved, raw, self.cic.engine.phone_region))
        if first is None:
            return owner
        if owner is None:
            self.add_identity(first, proved, raw, actor)
            return first
        if owner != first:
            self.merge_customers(owner, first, actor)
        return owner

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
                          excluded_agents = '{}', excluded_until = NULL, callback = false
                   WHERE id = %s AND state = 'closed' RETURNING id""", (now, now, interaction_id)).fetchone()
            if row is None:
                return False
            store_routing.record(conn, "reopened", now, interaction_id, actor=actor, data={"why": why})
            wake_routers(conn, f"interaction:{interaction_id}")
        return True

    def set_tier(self, customer_id: int, tier: Tier, actor: str | None = None) -> None:
        """Also moves the customer's waiting interactions to their place for the new tier."""
        with self.store.transaction() as conn:
            self._set_tier(conn, customer_id, tier, actor)

    def _set_tier(self, conn, customer_id: int, tier: Tier, actor: str | None) -> None:
        customers.set_tier(conn, customer_id, tier, self.clock.now(), actor)
        waiting = store_routing.waiting_of_customer(conn, customer_id)
        for interaction_id, queued_at, priority in waiting:
            store_routing.update_waiting(conn, interaction_id,
                                         rank_at=rank_at(self.cic.routing, queued_at, priority, tier))
        if waiting:
            wake_routers(conn, f"customer:{customer_id}")

    def update_customer(self, customer_id: int, changes: dict[str, Any], actor: str | None = None) -> Customer:
        """Change any of display_name, notes, tier and preferred_channel at once (all or none);
        a merged profile's id reaches the profile it was merged into."""
        customer_id = self.get_customer(customer_id).id
        now = self.clock.now()
        with self.store.transaction() as conn:
            profile = {k: changes[k] for k in ("display_name", "notes") if k in changes}
            if profile:
                customers.set_profile(conn, customer_id, profile, now, actor)
            if changes.get("tier") is not None:
                self._set_tier(conn, customer_id, Tier(changes["tier"]), actor)
            if "preferred_channel" in changes:
                channel = changes["preferred_channel"]
                customers.set_preferred_channel(conn, customer_id, Channel(channel) if channel else None, now, actor)
            return customers.get(conn, customer_id)

    def set_opt_out(self, customer_id: int, channel: Channel, opted_out: bool, actor: str | None = None) -> None:
        with self.store.transaction() as conn:
            customers.set_opt_out(conn, customer_id, channel, opted_out, self.clock.now(), actor)

    def customer_history(self, customer_id: int, limit: int = 500, after: int = 0) -> list[TimelineEvent]:
        with self.store.transaction() as conn:
            return timeline.for_customer(conn, customer_id, limit, after)


def _duplicate(seen: tuple[int, int, int]) -> IngestResult:
    """The result of a contact taken before: its (message, interaction, customer)."""
    return IngestResult(message_id=seen[0], interaction_id=seen[1], customer_id=seen[2], duplicate=True,
                        new_interaction=False, new_customer=False)
