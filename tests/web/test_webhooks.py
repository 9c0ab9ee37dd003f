"""Webhooks to a real HTTP receiver (its own process, checking signatures itself): every event
is delivered, in order per interaction, across the receiver's and the engine's restarts; a
repeat carries the same delivery id; an admin reads the delivery log and replays a delivery."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from cic_engine.webhooks import EVENTS
from tests import local_http, processes
from tests.core.test_run import free_port
from tests.local_http import QuietHandler
from tests.waiting import wait_for
from tests.web.test_api_v1 import ADMIN_AND_CASES, call, make_token

FAST_RETRIES = "[outbox]\nbackoff_s = 0.3\nmax_attempts = 30\nlease_s = 5\n"


def start_receiver(port: int, secret: str, out: Path) -> subprocess.Popen:
    proc = processes.spawn([sys.executable, "-m", "tests.web.webhook_receiver", str(port), secret, str(out)],
                           stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])
    assert proc.stdout.readline().strip() == "ready"
    return proc


def received(out: Path) -> list[dict]:
    return [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []


def test_webhooks_arrive_signed_in_order_across_receiver_and_engine_restarts(start_web, tmp_path):
    web = start_web(cic_extra=ADMIN_AND_CASES + FAST_RETRIES)
    admin = web.api().login("ada")
    token = make_token(web, "shop", ["interactions:write", "interactions:read"])
    port, out = free_port(), tmp_path / "received.jsonl"
    status, sub = admin.call("POST", "/api/admin/webhooks", {
        "name": "shop", "url": f"http://127.0.0.1:{port}/hooks/cic",
        "events": ["interaction.opened", "message.received", "interaction.closed"]})
    assert status == 201, sub
    assert admin.call("POST", "/api/admin/webhooks", {"name": "bad", "url": "file:///etc/passwd",
                                                       "events": ["message.received"]})[0] == 400
    assert web.api().login("alice").call("GET", "/api/admin/webhooks/deliveries")[0] == 403
    receiver = start_receiver(port, sub["secret"], out)

    def contact(n: int, who: str) -> dict:
        status, made, _ = call(web.base, "POST", "/api/v1/interactions", token, {
            "channel": "email", "external_id": f"m-{n}", "email": f"{who}@example.com", "text": f"消息 {n}"})
        assert status == 201, made
        return made

    first = contact(1, "wang")
    got = wait_for(lambda: [r for r in received(out) if r["event"]["interaction_id"] == first["interaction_id"]]
                   if len(received(out)) >= 2 else None)
    assert [r["event"]["event"] for r in got] == ["interaction.opened", "message.received"]
    assert all(r["signed"] and r["fresh"] for r in got)
    assert got[0]["event"]["customer_id"] == first["customer_id"]

    # The receiver goes down; contacts keep coming; then the engine dies too, mid-retry.
    processes.stop(receiver)
    made = [contact(n, who) for n, who in ((2, "li"), (3, "zhao"), (4, "li"))]
    wait_for(lambda: admin.call("GET", "/api/admin/webhooks/deliveries?state=pending")[1]["deliveries"])
    status, log = admin.call("GET", "/api/admin/webhooks/deliveries?state=pending")
    assert any("unreachable" in (d["last_error"] or "") for d in log["deliveries"]), log
    web.kill()
    receiver = start_receiver(port, sub["secret"], out)
    web.restart()

    interactions = {first["interaction_id"], *(m["interaction_id"] for m in made)}
    expected_events = 2 * len(interactions) + (len(made) + 1 - len(interactions))  # opened + each message

    def everything() -> list[dict] | None:
        events = {r["event"]["event_id"] for r in received(out)}
        return received(out) if len(events) >= expected_events else None
    got = wait_for(everything, timeout=60)
    assert all(r["signed"] for r in got)
    # At least once: a repeat is the same delivery (same id, same event); no event under two ids.
    by_delivery: dict[str, set[int]] = defaultdict(set)
    for r in got:
        by_delivery[r["delivery"]].add(r["event"]["event_id"])
    assert all(len(events) == 1 for events in by_delivery.values())
    assert len(by_delivery) == len({r["event"]["event_id"] for r in got}) == expected_events
    # In order per interaction: each interaction's events arrive in the order they happened.
    for interaction_id in interactions:
        ids = [r["event"]["event_id"] for r in got if r["event"]["interaction_id"] == interaction_id]
        firsts = list(dict.fromkeys(ids))  # a repeat right after its own first delivery keeps the order
        assert firsts == sorted(firsts), (interaction_id, ids)
        kinds = [r["event"]["event"] for r in got if r["event"]["interaction_id"] == interaction_id]
        assert kinds[0] == "interaction.opened"

    # The log shows every delivery sent; a replay sends the same event again under a new id.
    status, log = admin.call("GET", f"/api/admin/webhooks/deliveries?subscription={sub['id']}")
    assert status == 200 and {d["state"] for d in log["deliveries"]} == {"sent"}
    assert {str(d["id"]) for d in log["deliveries"]} == set(by_delivery)
    chosen = log["deliveries"][-1]
    status, replay = admin.call("POST", f"/api/admin/webhooks/deliveries/{chosen['id']}/replay", {})
    assert status == 201
    again = wait_for(lambda: [r for r in received(out) if r["delivery"] == str(replay["id"])])
    assert again[0]["event"]["event_id"] == by_delivery[str(chosen["id"])].pop()
    assert admin.call("POST", "/api/admin/webhooks/deliveries/999999/replay", {})[0] == 404


def test_a_receiver_that_refuses_is_in_the_log_and_later_events_still_go(start_web, tmp_path):
    """A 4xx is final (a retry would get the same answer): the delivery is failed with the
    receiver's answer, and the interaction's next events are not held up behind it forever."""
    web = start_web(cic_extra=ADMIN_AND_CASES + FAST_RETRIES)
    admin = web.api().login("ada")
    token = make_token(web, "shop", ["interactions:write"])
    port, out = free_port(), tmp_path / "received.jsonl"
    status, sub = admin.call("POST", "/api/admin/webhooks", {
        "name": "shop", "url": f"http://127.0.0.1:{port}/hooks", "events": ["message.received"],
        "secret": "not-the-secret-the-receiver-has"})
    start_receiver(port, "the-receivers-own-secret-1234", out)  # so it answers 401 to everything
    status, made, _ = call(web.base, "POST", "/api/v1/interactions", token, {
        "channel": "email", "external_id": "x-1", "email": "chen@example.com", "text": "hi"})
    failed = wait_for(lambda: admin.call("GET", "/api/admin/webhooks/deliveries?state=failed")[1]["deliveries"])
    assert failed[0]["last_error"] == "receiver answered 401 Unauthorized" and failed[0]["attempts"] == 1
    assert not any(r["signed"] for r in received(out))


def test_what_agents_do_reaches_a_subscriber_of_every_event(start_web, tmp_path, store):
    """A subscriber of every event hears an interaction's whole life in order (opened, the
    customer's message, offered, accepted, closed), the case opened from it, and the agent's
    state; every timeline kind behind an event name is mapped (message.sent, survey.answered)."""
    web = start_web(cic_extra=ADMIN_AND_CASES + FAST_RETRIES)
    admin = web.api().login("ada")
    port, out = free_port(), tmp_path / "received.jsonl"
    status, sub = admin.call("POST", "/api/admin/webhooks", {
        "name": "everything", "url": f"http://127.0.0.1:{port}/", "events": list(EVENTS)})
    assert status == 201, sub
    start_receiver(port, sub["secret"], out)
    alice = web.api().login("alice")
    assert alice.call("POST", "/api/me/state", {"state": "available"})[0] == 200
    token = make_token(web, "shop", ["interactions:write"])
    status, made, _ = call(web.base, "POST", "/api/v1/interactions", token, {
        "channel": "email", "external_id": "life-1", "email": "sun@example.com", "text": "你好", "queue": "general"})
    interaction = made["interaction_id"]
    wait_for(lambda: alice.call("GET", "/api/work")[1]["offers"])
    assert alice.call("POST", f"/api/interactions/{interaction}/accept", {})[0] == 200
    status, case = alice.call("POST", f"/api/interactions/{interaction}/cases",
                              {"category": "billing_complaint", "description": "重复扣款"})
    assert status == 201, case
    assert alice.call("POST", f"/api/interactions/{interaction}/end", {})[0] == 200
    status, view = alice.call("GET", f"/api/interactions/{interaction}")
    if view["interaction"]["state"] == "wrap_up":  # the queue's wrap-up time: the agent finishes it
        assert alice.call("POST", f"/api/interactions/{interaction}/wrap-up", {})[0] == 200

    def heard() -> list[str] | None:
        names = [r["event"]["event"] for r in received(out) if r["event"]["interaction_id"] == interaction]
        return names if "interaction.closed" in names else None
    names = wait_for(heard)
    life = [n for n in names if n.startswith(("interaction.", "message."))]
    assert life == ["interaction.opened", "message.received", "interaction.offered", "interaction.accepted",
                    "interaction.closed"], names
    assert "case.changed" in names
    states = [r["event"] for r in received(out) if r["event"]["event"] == "agent.state"]
    assert states and states[0]["data"]["to"] == "available" and states[0]["interaction_id"] is None
    assert all(r["signed"] for r in received(out))
    with store.transaction() as conn:
        mapped = dict(conn.execute(
            """SELECT kind, cic_webhook_event(kind) FROM unnest(ARRAY['interaction_opened', 'offered', 'accepted',
                   'closed', 'message_received', 'message_sent', 'case_status', 'csat', 'agent_state', 'note']) kind"""
        ).fetchall())
    assert set(mapped.values()) == {*EVENTS, None} and mapped["note"] is None


def test_a_receiver_that_redirects_is_not_followed(start_web):
    """urllib would follow a 307 with the body but turn a 302 into a GET without it: neither is
    a delivery. The log says what the receiver answered, and where to subscribe instead."""
    asked: list[str] = []

    class Moved(QuietHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            asked.append(self.path)
            self.send_response(302 if self.path == "/old" else 200)
            self.send_header("Location", "/new")
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST  # noqa: N815 - what a followed redirect would send

    server, base = local_http.serve(Moved)
    try:
        web = start_web(cic_extra=ADMIN_AND_CASES + FAST_RETRIES)
        admin = web.api().login("ada")
        token = make_token(web, "shop", ["interactions:write"])
        assert admin.call("POST", "/api/admin/webhooks", {
            "name": "moved", "url": f"{base}/old",
            "events": ["message.received"]})[0] == 201
        call(web.base, "POST", "/api/v1/interactions", token, {
            "channel": "email", "external_id": "r-1", "email": "he@example.com", "text": "hi"})
        failed = wait_for(lambda: admin.call("GET", "/api/admin/webhooks/deliveries?state=failed")[1]["deliveries"])
        assert failed[0]["last_error"].startswith("receiver answered 302 Found (redirects are not followed")
        assert asked == ["/old"]
    finally:
        local_http.stop(server)
