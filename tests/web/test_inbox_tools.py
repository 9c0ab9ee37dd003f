"""The inbox's tools: canned responses with placeholders, disposition codes, search."""

from __future__ import annotations

import textwrap

from tests.waiting import wait_for
from tests.web.test_chat_socket import start as start_chat
from tests.web.test_chat_socket import stored

INBOX = textwrap.dedent("""\
    [inbox]
    dispositions = ["resolved", "escalated"]
    [[inbox.canned]]
    name = "greeting"
    text = "Hello {customer_name}, this is {agent_name} about ticket {ticket} ({channel}, {queue})."
    """)


def accepted_chat(web, name: str = "Zhang Wei", email: str | None = None) -> tuple[object, int]:
    alice = web.api().login("alice")
    alice.call("POST", "/api/me/state", {"state": "available"})
    ws, _ = start_chat(web, name=name, email=email)
    ws.send({"type": "message", "id": "hello-message", "text": "Hello"})
    ws.receive_until("ack")
    offer = wait_for(lambda: alice.call("GET", "/api/work")[1]["offers"])[0]
    alice.call("POST", f"/api/interactions/{offer['id']}/accept", {})
    return alice, offer["id"]


def test_canned_responses_fill_their_placeholders_and_wrap_up_takes_a_configured_code(start_web):
    web = start_web(cic_extra=INBOX)
    alice, interaction_id = accepted_chat(web)
    status, canned = alice.call("GET", f"/api/interactions/{interaction_id}/canned")
    assert status == 200 and canned == [{
        "name": "greeting", "text": f"Hello Zhang Wei, this is Alice Chen about ticket {interaction_id} (chat, chat)."}]
    assert alice.call("GET", "/api/me")[1]["dispositions"] == ["resolved", "escalated"]
    alice.call("POST", f"/api/interactions/{interaction_id}/end", {})
    status, body = alice.call("POST", f"/api/interactions/{interaction_id}/wrap-up", {"disposition": "whatever"})
    assert status == 400 and body["error"] == "pick a disposition: resolved, escalated"
    assert alice.call("POST", f"/api/interactions/{interaction_id}/wrap-up", {"disposition": "escalated"})[0] == 200
    assert stored(web, "SELECT state, disposition FROM interactions") == [("closed", "escalated")]


def test_a_canned_response_with_an_unknown_placeholder_stops_the_engine_with_file_and_key(tmp_path, db_url):
    import subprocess
    import sys

    from tests.web.conftest import web_config

    config = web_config(tmp_path, db_url, 1, cic_extra='[[inbox.canned]]\nname = "x"\ntext = "Hi {nmae}"\n')
    out = subprocess.run([sys.executable, "-m", "cic_engine", "check-config", "--config", str(config)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert f"{config}: inbox.canned[0].text: Value error, unknown placeholder(s) ['nmae']" in out.stderr


def test_search_finds_customers_and_only_the_interactions_one_may_see(web):
    alice, interaction_id = accepted_chat(web, name="Zhang Wei", email="zhang.wei@example.cn")
    status, found = alice.call("GET", "/api/search?q=zhang%20w")
    assert status == 200
    assert [c["display_name"] for c in found["customers"]] == ["Zhang Wei"]
    assert [i["id"] for i in found["interactions"]] == [interaction_id]
    # Another number finds nothing (long enough not to turn up by chance in the chat's hex identity).
    assert [i["id"] for i in alice.call("GET", f"/api/search?q={interaction_id}09090")[1]["interactions"]] == []
    bob = web.api().login("bob")  # billing only
    assert bob.call("GET", "/api/search?q=Zhang")[1] == {"customers": [], "interactions": []}  # nor the customer
    assert alice.call("GET", "/api/search?q=%25%25")[1] == {"customers": [], "interactions": []}  # % is literal
    assert alice.call("GET", "/api/search?q=z")[0] == 400
