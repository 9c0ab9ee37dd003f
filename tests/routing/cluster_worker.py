"""One engine process of the routing concurrency test: a router routing passes in one thread
and agents answering offers in another, both on the shared database, until nothing is open."""

import json
import random
import sys
import threading
import time

from cic_engine.config import CicConfig
from cic_engine.routing.router import Router
from cic_engine.routing.service import Routing, RoutingError
from cic_engine.store import Store


def main() -> None:
    url, config_path, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    cic = CicConfig.model_validate_json(open(config_path).read())
    rng = random.Random(seed)
    store = Store(url, min_size=4, max_size=6, name=f"worker-{seed}").open()
    router = Router(store, cic)
    router.load_queues()
    routing = Routing(router)
    done = threading.Event()
    stats = {"passes": 0, "accepted": 0, "rejected": 0, "lost_races": 0, "ended": 0}

    def route_loop() -> None:
        while not done.is_set():
            if not router.route().progress:
                time.sleep(0.005)
            stats["passes"] = router.passes

    def agent_loop() -> None:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            with store.transaction() as conn:
                offered = conn.execute("SELECT id, offered_to FROM interactions WHERE state = 'offered' "
                                       "ORDER BY random() LIMIT 100").fetchall()
                active = conn.execute("SELECT id, assigned_agent_id, state FROM interactions "
                                      "WHERE state IN ('active', 'wrap_up') ORDER BY random() LIMIT 100").fetchall()
                still_open = conn.execute("SELECT count(*) FROM interactions WHERE state <> 'closed'").fetchone()[0]
            if not still_open:
                break
            for interaction_id, offered_to in offered:
                agent_id = rng.choice(offered_to)
                try:
                    if rng.random() < 0.1:
                        routing.reject(interaction_id, agent_id)
                        stats["rejected"] += 1
                    else:
                        routing.accept(interaction_id, agent_id)
                        stats["accepted"] += 1
                except RoutingError:
                    stats["lost_races"] += 1  # the other process answered it first
            for interaction_id, agent_id, state in active:
                try:
                    if state == "active":
                        routing.end(interaction_id, agent_id)
                    else:
                        routing.complete_wrap_up(interaction_id, agent_id, "done")
                    stats["ended"] += 1
                except RoutingError:
                    stats["lost_races"] += 1
            if not offered and not active:
                time.sleep(0.01)
        done.set()

    print("ready", flush=True)
    assert sys.stdin.readline().strip() == "go"
    threads = [threading.Thread(target=route_loop), threading.Thread(target=agent_loop)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store.close()
    print(json.dumps(stats), flush=True)


if __name__ == "__main__":
    main()
