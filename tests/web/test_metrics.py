"""The Prometheus endpoint: what waits and for how long, the totals and handle times per queue
and channel, the agents' states, the adapters' health and the database pool, in the text format
prometheus-client's own parser reads."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from tests.waiting import wait_for
from tests.web.test_chat_socket import start as start_chat


def scrape(web) -> dict[tuple[str, tuple], float]:
    with urllib.request.urlopen(web.base + "/metrics", timeout=20) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        text = response.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_show_the_queue_the_agents_and_the_adapters(web):
    chat = (("channel", "chat"), ("queue", "chat"))
    ws, _ = start_chat(web, name="Li Lei")
    ws.send({"type": "message", "id": "metrics-0001", "text": "Hello"})
    ws.receive_until("ack")
    found = wait_for(lambda: (m := scrape(web)).get(("cic_queue_waiting", chat)) == 1 and m,
                     what="the chat waiting in the metrics")
    assert found[("cic_interactions_offered_total", chat)] == 1
    assert found[("cic_interactions_answered_total", chat)] == 0
    assert found[("cic_queue_oldest_wait_seconds", chat)] >= 0
    assert found[("cic_handle_time_seconds_count", chat)] == 0
    assert found[("cic_agents", (("state", "offline"),))] == 3
    assert found[("cic_adapter_up", (("adapter", "webchat"), ("kind", "webchat"), ("node", "web-node")))] == 1
    assert found[("cic_db_up", (("node", "web-node"),))] == 1
    assert found[("cic_db_pool_connections", (("kind", "size"), ("node", "web-node")))] >= 1

    alice = web.api().login("alice")
    alice.call("POST", "/api/me/state", {"state": "available"})
    offer = wait_for(lambda: alice.call("GET", "/api/work")[1]["offers"], what="the offer")[0]
    alice.call("POST", f"/api/interactions/{offer['id']}/accept", {})
    alice.call("POST", f"/api/interactions/{offer['id']}/end", {})
    alice.call("POST", f"/api/interactions/{offer['id']}/wrap-up", {})
    found = wait_for(lambda: (m := scrape(web)).get(("cic_handle_time_seconds_count", chat)) == 1 and m,
                     what="the handled chat in the histogram")
    assert found[("cic_interactions_answered_total", chat)] == 1 and found[("cic_queue_waiting", chat)] == 0
    assert found[("cic_handle_time_seconds_bucket", tuple(sorted((*chat, ("le", "30.0")))))] == 1
