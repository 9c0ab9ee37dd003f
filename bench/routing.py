"""Routing throughput and latency against trivial single-row UPDATE transactions.

1,000 agents (mixed queues, 7 slots each across channels) and 10,000 queued interactions across
channels and two queues, VIPs among them. Throughput: every agent logs in at once and the
router, running as in the engine (a greenlet woken by NOTIFY), offers until every slot is
taken (7,000 offers); routed/s is offers over that time. Latency: 300 times an agent gives an
offer back (reject), which frees its slot; the time from that call until the router's next
offer to that agent reaches a LISTENing client; and 300 times a chat arrives for a queue
with free agents, from the ingest call until its offer is heard. The baseline, measured before and after on
the same database, is single-row UPDATE transactions on one connection.
Last line: ratio (routing rate / baseline rate; target >= 0.25) and p50_ms / p99_ms, the worse
of the two latencies (target p99 < 50).
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import random  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
import psycopg  # noqa: E402
from _database import bench_database  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cic_engine.config import CicConfig  # noqa: E402
from cic_engine.engine import Engine  # noqa: E402
from cic_engine.models import Channel, InboundContact, Tier  # noqa: E402
from cic_engine.routing.events import EVENTS_CHANNEL, parse  # noqa: E402
from cic_engine.routing.router import Router  # noqa: E402
from cic_engine.routing.service import Routing  # noqa: E402
from cic_engine.store import Store  # noqa: E402

SMOKE = "--smoke" in sys.argv  # make bench-smoke: a tiny run, so that the benchmark cannot rot
ARGS = [a for a in sys.argv[1:] if a != "--smoke"]
AGENTS, FRESH_AGENTS, INTERACTIONS, SAMPLES, BASELINE = ((60, 5, 300, 20, 100) if SMOKE
                                                          else (1000, 20, 10_000, 300, 3000))
CHANNELS = [Channel.voice, Channel.email, Channel.sms, Channel.chat, Channel.fax]


def config() -> CicConfig:
    return CicConfig.model_validate({
        "routing": {"capacity": {"voice": 1, "email": 2, "sms": 1, "chat": 2, "fax": 1}, "voice_exclusive": False,
                    "offer_timeout_s": 3600},
        "queues": [{"name": "general"}, {"name": "vip", "priority": 10, "strategy": "least-occupied"},
                   {"name": "fresh", "wrap_up_s": 0}],
        "agents": [{"login": f"a{i:04d}", "name": f"Agent {i}", "queues": ["general", "vip"] if i % 3 else ["general"]}
                   for i in range(AGENTS - FRESH_AGENTS)]
        + [{"login": f"f{i:02d}", "name": f"Fresh {i}", "queues": ["fresh"]} for i in range(FRESH_AGENTS)],
    })


def baseline_rate(url: str) -> float:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_counter (id int PRIMARY KEY, n bigint NOT NULL)")
        conn.execute("INSERT INTO bench_counter VALUES (1, 0) ON CONFLICT DO NOTHING")
        started = time.perf_counter()
        for _ in range(BASELINE):
            conn.execute("UPDATE bench_counter SET n = n + 1 WHERE id = 1")
        return BASELINE / (time.perf_counter() - started)


def load(store: Store, cic: CicConfig) -> None:
    engine = Engine(store, cic)
    engine.load_directory()
    for n in range(INTERACTIONS):
        channel = CHANNELS[n % 5]
        sender = f"visitor-{n}" if channel == Channel.chat else (
            f"c{n}@example.com" if channel == Channel.email else f"+86139{n:08d}")
        engine.ingest(InboundContact(channel=channel, endpoint="bench", external_id=f"b{n}", sender=sender,
                                     queue="vip" if n % 10 == 0 else None))
    with store.transaction() as conn:  # some VIP customers among them
        conn.execute("UPDATE customers SET tier = %s WHERE id %% 17 = 0", (Tier.vip.value,))


def main() -> None:
    with bench_database() as url:
        run(url)


def run(url: str) -> None:
    cic = config()
    store = Store(url, min_size=4, max_size=8).open()
    load(store, cic)
    before = baseline_rate(url)
    router = Router(store, cic)
    router.route()  # the arrivals get their place in line; no agent is logged in yet
    routing = Routing(router)
    offered_to: dict[int, float] = {}  # agent -> when its latest offer was heard
    offered_at: dict[int, tuple[float, int]] = {}  # interaction -> (when heard, agent)
    heard = gevent.event.Event()

    def listen() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"LISTEN {EVENTS_CHANNEL}")
            ready.set()
            for note in conn.notifies():
                event = parse(note.payload)
                if event and event.event == "interaction.offered":
                    offered_to[event.agent_id] = time.perf_counter()
                    offered_at[event.interaction_id] = (offered_to[event.agent_id], event.agent_id)
                    heard.set()

    ready = gevent.event.Event()
    listener = gevent.spawn(listen)
    ready.wait(10)
    router.start()

    started = time.perf_counter()
    with store.transaction() as conn:
        conn.execute("UPDATE agents SET presence = 'available', updated_at = now()")
        conn.execute("NOTIFY cic_queue, 'bench: everyone logged in'")
        slots = conn.execute("SELECT sum(c) FROM agents, unnest(caps) c").fetchone()[0]
    offers, last_change = 0, started
    # Done when every slot is offered, or when nothing moved for a while (the waiting mix
    # cannot fill every slot, e.g. VIP items left for agents outside the VIP queue).
    while offers < slots and time.perf_counter() - last_change < 1.0:
        with store.transaction() as conn:
            count = conn.execute("SELECT count(*) FROM interactions WHERE state = 'offered'").fetchone()[0]
        if count != offers:
            offers, last_change = count, time.perf_counter()
        gevent.sleep(0.005)
    elapsed = last_change - started
    rate = offers / elapsed

    rng = random.Random(7)
    latencies = []
    with store.transaction() as conn:
        held = conn.execute("SELECT id, offered_to[1] FROM interactions WHERE state = 'offered' "
                            "AND channel IN ('voice', 'sms', 'fax')").fetchall()  # channels with a backlog
    for interaction_id, agent_id in rng.sample(held, SAMPLES):
        offered_to.pop(agent_id, None)
        t0 = time.perf_counter()
        routing.reject(interaction_id, agent_id)
        while agent_id not in offered_to:
            heard.clear()
            if not heard.wait(5):
                raise SystemExit(f"agent {agent_id} got no new offer within 5 s of freeing a slot")
        latencies.append((offered_to[agent_id] - t0) * 1000)
    enqueue_latencies = []
    engine = Engine(store, cic)
    for n in range(SAMPLES):
        t0 = time.perf_counter()
        interaction_id = engine.ingest(InboundContact(channel=Channel.chat, endpoint="bench", external_id=f"f{n}",
                                                      sender=f"fresh-{n}", queue="fresh")).interaction_id
        while interaction_id not in offered_at:
            heard.clear()
            if not heard.wait(5):
                raise SystemExit(f"interaction {interaction_id} was not offered within 5 s")
        heard_at, agent_id = offered_at[interaction_id]
        enqueue_latencies.append((heard_at - t0) * 1000)
        routing.accept(interaction_id, agent_id)
        routing.end(interaction_id, agent_id)
    router.stop()
    listener.kill()
    store.close()
    after = baseline_rate(url)
    base = (before + after) / 2
    freed_p50, freed_p99 = percentiles(latencies)
    enqueue_p50, enqueue_p99 = percentiles(enqueue_latencies)
    print(f"agents={AGENTS} waiting={INTERACTIONS} offers={offers} in {elapsed:.2f}s; "
          f"baseline before/after {before:.0f}/{after:.0f} updates/s; router passes {router.passes}")
    print(f"agent freed -> offer p50 {freed_p50:.2f} ms p99 {freed_p99:.2f} ms; "
          f"enqueue -> offer p50 {enqueue_p50:.2f} ms p99 {enqueue_p99:.2f} ms")
    print(f"ratio={rate / base:.3f} routed_per_s={rate:.0f} baseline_per_s={base:.0f} "
          f"p50_ms={max(freed_p50, enqueue_p50):.2f} p99_ms={max(freed_p99, enqueue_p99):.2f}")


def percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.99) - 1]


if __name__ == "__main__":
    main()
