"""A throwaway embedded PostgreSQL with the schema applied, for one benchmark run."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cic_engine.store import migrations  # noqa: E402
from cic_engine.store.embedded import EmbeddedPostgres  # noqa: E402


@contextmanager
def bench_database() -> Iterator[str]:
    tmp = Path(tempfile.mkdtemp(prefix="cic-bench-"))
    server = EmbeddedPostgres(tmp / "pg")
    try:
        url = server.start()
        if os.environ.get("CIC_BENCH_STATEMENTS"):
            url = _with_statement_stats(server, url)
        migrations.upgrade(url)
        yield url
        if os.environ.get("CIC_BENCH_STATEMENTS"):
            _print_statement_stats(url)
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def _with_statement_stats(server: EmbeddedPostgres, url: str) -> str:
    """CIC_BENCH_STATEMENTS=1: restart with pg_stat_statements, to see where the database's time goes."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
    server.stop()
    url = server.start()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    return url


def _print_statement_stats(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            """SELECT calls, round(total_exec_time::numeric, 0), round(mean_exec_time::numeric, 3),
                      regexp_replace(left(query, 110), '\\s+', ' ', 'g')
               FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 25""").fetchall()
    for calls, total, mean, query in rows:
        print(f"{calls:>7} {total:>7} ms {mean:>8} ms  {query}")
