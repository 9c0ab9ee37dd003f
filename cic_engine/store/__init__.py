"""PostgreSQL access: explicit SQL, psycopg 3 and psycopg_pool, one module per aggregate."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager

from psycopg import Connection
from psycopg.rows import TupleRow
from psycopg_pool import ConnectionPool

Conn = Connection[TupleRow]


def advisory_key(text: str) -> int:
    """A stable signed 64-bit advisory lock id for a text, computed here so that it can travel
    inline with BEGIN (see store.ingest)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big", signed=True)


class Store:
    """Owns the connection pool. Connections are in autocommit mode; every block of work is an
    explicit transaction: `transaction()`, or one the ingest path runs itself."""

    def __init__(self, url: str, min_size: int = 2, max_size: int = 10, name: str = "cic"):
        self.url = url
        self.pool = ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            open=False,
            name=name,
            kwargs={"application_name": name, "autocommit": True},
        )

    def open(self, wait_timeout: float = 30.0) -> Store:
        self.pool.open(wait=True, timeout=wait_timeout)
        return self

    def close(self) -> None:
        self.pool.close()

    @contextmanager
    def transaction(self, timeout: float | None = None) -> Iterator[Conn]:
        """One transaction: committed when the block ends, rolled back when it raises."""
        with self.pool.connection(timeout=timeout) as conn, conn.transaction():
            yield conn

    def connection(self, timeout: float | None = None):
        """A pooled connection outside any transaction, for code that runs its own (ingest)."""
        return self.pool.connection(timeout=timeout)

    def health(self) -> dict:
        started = time.perf_counter()
        try:
            with self.pool.connection(timeout=2.0) as conn:
                conn.execute("SELECT 1")
        except Exception as exc:  # health reports the failure; it must not raise
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        stats = self.pool.get_stats()
        return {
            "ok": True,
            "latency_ms": round((time.perf_counter() - started) * 1000, 2),
            "pool_size": stats.get("pool_size", 0),
            "pool_available": stats.get("pool_available", 0),
        }
