"""Ingest throughput against plain single-row INSERT transactions on the same database.

10,000 contacts (2,000 customers writing 5 SMS each, so customers, conversations and messages
are all exercised) are ingested one transaction each; the baseline is 10,000 single-row INSERT
transactions of the same payload. The two run interleaved in blocks so that machine noise
hits both alike. Last line: ratio (ingest rate / baseline rate; target >= 0.3) and figures.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import psycopg
from _database import bench_database

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cic_engine.clock import ManualClock  # noqa: E402
from cic_engine.config import CicConfig  # noqa: E402
from cic_engine.engine import Engine  # noqa: E402
from cic_engine.models import Channel, ContentPart, InboundContact  # noqa: E402
from cic_engine.store import Store  # noqa: E402

SMOKE = "--smoke" in sys.argv  # make bench-smoke: a tiny run, so that the benchmark cannot rot
ARGS = [a for a in sys.argv[1:] if a != "--smoke"]
CONTACTS = 200 if SMOKE else 10_000
PER_CUSTOMER = 5
BLOCK = 50 if SMOKE else 500
BODY = "您好，我的订单 #12345 还没有送到，请帮我查一下。Hello, my order has not arrived yet."


def contacts() -> list[InboundContact]:
    return [
        InboundContact(
            channel=Channel.sms, endpoint="+8610086", external_id=f"bench-{n}",
            sender=f"+86139{n // PER_CUSTOMER:08d}", parts=[ContentPart(body=BODY)], continue_within_s=3600,
        )
        for n in range(CONTACTS)
    ]


def main() -> None:
    with bench_database() as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                """CREATE TABLE bench_baseline (id bigserial PRIMARY KEY, channel text, external_id text,
                   sender text, body text, created_at timestamptz)"""
            )
        run(url)


def run(url: str) -> None:
    store = Store(url, min_size=1, max_size=1).open()
    engine = Engine(store, CicConfig(), ManualClock())
    engine.load_directory()
    todo = contacts()
    baseline_conn = psycopg.connect(url)
    ingest_s = baseline_s = 0.0
    latencies: list[float] = []
    for start in range(0, CONTACTS, BLOCK):
        block = todo[start : start + BLOCK]
        t0 = time.perf_counter()
        for c in block:
            baseline_conn.execute(
                "INSERT INTO bench_baseline (channel, external_id, sender, body, created_at) VALUES (%s, %s, %s, %s, now())",
                (c.channel.value, c.external_id, c.sender, BODY),
            )
            baseline_conn.commit()
        baseline_s += time.perf_counter() - t0
        t0 = time.perf_counter()
        for c in block:
            t = time.perf_counter()
            engine.ingest(c)
            latencies.append(time.perf_counter() - t)
        ingest_s += time.perf_counter() - t0
    baseline_conn.close()
    with store.transaction() as conn:
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM interactions), (SELECT count(*) FROM customers)"
        ).fetchone()
    store.close()
    assert counts == (CONTACTS, CONTACTS // PER_CUSTOMER, CONTACTS // PER_CUSTOMER), counts

    ingest_rate = CONTACTS / ingest_s
    baseline_rate = CONTACTS / baseline_s
    p99 = statistics.quantiles(latencies, n=100)[98] * 1000
    print(f"ingest: {CONTACTS} contacts in {ingest_s:.2f}s ({ingest_rate:.0f}/s)")
    print(f"baseline: {CONTACTS} single-row INSERT transactions in {baseline_s:.2f}s ({baseline_rate:.0f}/s)")
    print(
        f"ratio={ingest_rate / baseline_rate:.3f} ingest_per_s={ingest_rate:.0f} baseline_per_s={baseline_rate:.0f} "
        f"p50_ms={statistics.median(latencies) * 1000:.2f} p99_ms={p99:.2f}"
    )


if __name__ == "__main__":
    main()
