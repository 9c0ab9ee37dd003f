"""The store's own ceiling for a channel: the same contacts the channel took in, written straight
through `Engine.ingest_many` in batches (no transport, no parsing, no acknowledgement), into a
fresh database like the channel's. A channel's `ceiling_ratio` is its rate over this one: how
much of what the database can durably take the channel delivers."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _database import bench_database  # noqa: E402

from cic_engine.clock import SystemClock  # noqa: E402
from cic_engine.config import CicConfig  # noqa: E402
from cic_engine.engine import Engine  # noqa: E402
from cic_engine.models import InboundContact  # noqa: E402
from cic_engine.store import Store  # noqa: E402

BATCH = 100  # as IngestBatcher's largest batch


def ceiling_rate(contacts: Sequence[InboundContact], cic: CicConfig | None = None, batch: int = BATCH) -> float:
    """Contacts per second written by ingest_many, `batch` at a time, one transaction each."""
    with bench_database() as url:
        store = Store(url, min_size=1, max_size=2).open()
        try:
            engine = Engine(store, cic or CicConfig(), SystemClock())
            engine.load_directory()
            started = time.perf_counter()
            for first in range(0, len(contacts), batch):
                results = engine.ingest_many(contacts[first:first + batch])
                failed = [r for r in results if isinstance(r, Exception)]
                assert not failed, f"the ceiling run refused contacts: {failed[:3]}"
            elapsed = time.perf_counter() - started
            with store.transaction() as conn:
                stored = conn.execute("SELECT count(*) FROM messages").fetchone()[0]
            assert stored == len(contacts), f"{stored} of {len(contacts)} stored"
        finally:
            store.close()
    return len(contacts) / elapsed
