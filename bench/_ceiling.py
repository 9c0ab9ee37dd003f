"""The store's own ceiling for a channel: the same contacts the channel took in, written straight
through `Engine.ingest_many` in batches (no transport, no parsing, no acknowledgement), into a
fresh database like the channel's, as many transactions at once as the adapters' IngestBatcher
writes. A channel's `ceiling_ratio` is its rate over this one: how much of what the database
can durably take the channel delivers."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _database import bench_database  # noqa: E402

from cic_engine.clock import SystemClock  # noqa: E402
from cic_engine.config import CicConfig  # noqa: E402
from cic_engine.engine import Engine  # noqa: E402
from cic_engine.models import InboundContact  # noqa: E402
from cic_engine.store import Store  # noqa: E402

BATCH = 100  # as IngestBatcher's: its largest batch, and its transactions at once
WRITERS = 2


def ceiling_rate(contacts: Sequence[InboundContact], cic: CicConfig | None = None, batch: int = BATCH,
                 writers: int = WRITERS) -> float:
    """Contacts per second written by ingest_many, `batch` to a transaction, `writers`
    transactions at once (threads, each its own connection)."""
    with bench_database() as url:
        store = Store(url, min_size=writers, max_size=writers).open()
        try:
            engine = Engine(store, cic or CicConfig(), SystemClock())
            engine.load_directory()
            batches = iter(range(0, len(contacts), batch))
            lock = threading.Lock()

            def write() -> None:
                while True:
                    with lock:
                        first = next(batches, None)
                    if first is None:
                        return
                    results = engine.ingest_many(contacts[first:first + batch])
                    failed = [r for r in results if isinstance(r, Exception)]
                    assert not failed, f"the ceiling run refused contacts: {failed[:3]}"

            started = time.perf_counter()
            with ThreadPoolExecutor(writers) as pool:
                for job in [pool.submit(write) for _ in range(writers)]:
                    job.result()
            elapsed = time.perf_counter() - started
            with store.transaction() as conn:
                stored = conn.execute("SELECT count(*) FROM messages").fetchone()[0]
            assert stored == len(contacts), f"{stored} of {len(contacts)} stored"
        finally:
            store.close()
    return len(contacts) / elapsed
