"""Re-ingest by hand: `cic-engine reingest ID` or a supervisor's button asks for it in the
database; the node that runs the contact's adapter takes the request and hands the recorded
bytes back to the adapter, as if they had just arrived (ingest is idempotent, so a request
taken twice after a crash joins the same interaction)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import gevent

from . import poison
from .adapters import Reingests
from .clock import Clock
from .store import Store
from .store import rejected as store_rejected

log = logging.getLogger(__name__)


class Reingester:
    def __init__(self, store: Store, clock: Clock, adapters: Callable[[], Mapping[str, object]]):
        self.store = store
        self.clock = clock
        self.adapters = adapters

    def watch(self, every_s: float = 1.0) -> None:
        while True:
            try:
                while self.take_one():
                    pass
            except Exception as exc:  # noqa: BLE001 - the database away: asked again next round
                log.warning("re-ingest: %s", poison.reason(exc))
            gevent.sleep(every_s)

    def take_one(self) -> bool:
        """One waiting request of this node's adapters; False when there is none."""
        mine = {name: a for name, a in self.adapters().items() if isinstance(a, Reingests)}
        if not mine:
            return False
        with self.store.transaction() as conn:
            row = store_rejected.take_requested(conn, list(mine))
            if row is None:
                return False
            try:
                interaction_id = mine[row.adapter].reingest(row.raw, dict(row.source))
            except Exception as exc:  # noqa: BLE001 - still poison: the reason goes back on the record
                if poison.unreachable(exc):
                    raise
                error = poison.reason(exc)
                log.warning("re-ingest of #%s failed again: %s", row.id, error)
                store_rejected.reingest_failed(conn, row.id, error)
                return True
            store_rejected.reingested(conn, row.id, interaction_id, self.clock.now())
        log.info("rejected contact #%s re-ingested: interaction %s", row.id, interaction_id)
        return True
