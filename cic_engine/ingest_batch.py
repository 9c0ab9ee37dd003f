"""Group commit for adapters whose contacts arrive many at a time (an SMSC delivering several
messages at once, a mailbox's fetched batch, customers chatting): the contacts that greenlets
hand in while a batch is being written go together in the next, one transaction and one commit
(one WAL flush) for all of them. Two batches are written at once (the database has more than
one core, and one batch's commit overlaps the next's statements), so a caller must hand in one
sender's contacts in turn, each after the last's result, as every adapter does: two contacts
of one sender are then never in two transactions at once. Each caller gets its own result
only after its contact is committed, so it acknowledges upstream no sooner than before; a
batch that fails is taken again contact by contact, so one bad contact costs the others
nothing."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import gevent
from gevent.event import AsyncResult

from .engine import Engine
from .models import InboundContact, IngestResult

log = logging.getLogger(__name__)


class IngestBatcher:
    def __init__(self, engine: Engine, max_batch: int = 100, writers: int = 2):
        self.engine = engine
        self.max_batch = max_batch
        self.writers = writers
        self._pending: list[tuple[InboundContact, Sequence[str], AsyncResult]] = []
        self._writing = 0
        self.batches = 0

    def ingest(self, contact: InboundContact, known_as: Sequence[str] = ()) -> IngestResult:
        """Engine.ingest, sharing its transaction with whatever else is waiting."""
        done = AsyncResult()
        self._pending.append((contact, tuple(known_as), done))
        if self._writing < self.writers:
            self._writing += 1
            gevent.spawn(self._write)
        return done.get()

    def _write(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch:]
                self.batches += 1
                try:
                    results = self.engine.ingest_many([c for c, _, _ in batch], [k for _, k, _ in batch])
                except Exception as exc:  # noqa: BLE001 - a race lost, a bad contact: one by one below
                    log.info("a batch of %d contact(s) failed (%s); taking them one by one", len(batch), exc)
                    for contact, known_as, done in batch:
                        try:
                            done.set(self.engine.ingest(contact, known_as))
                        except Exception as one:  # noqa: BLE001 - the caller's to handle, as with ingest()
                            done.set_exception(one)
                    continue
                for (_, _, done), result in zip(batch, results, strict=True):
                    if isinstance(result, Exception):
                        done.set_exception(result)
                    else:
                        done.set(result)
        finally:
            self._writing -= 1
