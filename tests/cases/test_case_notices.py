"""Case notices reach a chat customer in the chat while it is open; once they have left, the
chat is not tried (a closed widget would never show it) and another channel is."""

from __future__ import annotations

import pytest

from tests.cases.test_case_permissions import CASES
from tests.waiting import wait_for
from tests.web.test_chat_socket import start as start_chat
from tests.web.test_chat_socket import stored

pytestmark = pytest.mark.timeout(120)


def test_notices_go_to_an_open_chat_and_not_to_a_closed_one(start_web):
    web = start_web(cic_extra=CASES)
    alice = web.api().login("alice")
    alice.call("POST", "/api/me/state", {"state": "available"})
    ws, _ = start_chat(web, name="Wang Fang", email="wang.fang@example.cn")
    ws.send({"type": "message", "id": "m-00000001", "text": "I was charged twice"})
    ws.receive_until("ack")
    offer = wait_for(lambda: alice.call("GET", "/api/work")[1]["offers"], what="the chat offered")[0]
    alice.call("POST", f"/api/interactions/{offer['id']}/accept", {})
    status, opened = alice.call("POST", f"/api/interactions/{offer['id']}/cases",
                                {"category": "billing_complaint", "description": "Charged twice"})
    assert status == 201
    while True:
        message = ws.receive_until("message", timeout=15)
        if message["direction"] == "outbound":
            break
    assert f"case #{opened['id']}" in message["text"]  # told in the chat, which is open
    ws.send({"type": "leave"})
    wait_for(lambda: stored(web, "SELECT ended_at IS NOT NULL FROM chat_sessions") == [(True,)], what="left")
    bill = web.api().login("bill")
    assert bill.call("POST", f"/api/cases/{opened['id']}/resolve", {"resolution": "Refunded"})[0] == 200
    events = bill.call("GET", f"/api/cases/{opened['id']}")[1]["events"]
    told = [(e["kind"], e["data"].get("what"), e["data"].get("channel"), e["data"].get("error")) for e in events
            if e["kind"] in ("case_customer_told", "case_customer_not_told")]
    assert told[0] == ("case_customer_told", "opened", "chat", None)
    kind, what, _, error = told[1]
    assert (kind, what) == ("case_customer_not_told", "resolved") and "chat" not in error
    assert error.startswith("sms: ") and "email: no email channel is set up" in error
