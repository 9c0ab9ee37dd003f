"""The chat survey in Debian's Chromium: when the agent's work on a chat is over, the widget
shows the question with 1-5 buttons, and one click records the score."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.real_parts import needs_chromium
from tests.waiting import wait_for
from tests.web.browser import customer_chats, launch, screenshot

pytestmark = [pytest.mark.timeout(120),
              needs_chromium]


def test_a_chat_customer_rates_the_conversation_with_one_click(start_web, store):
    web = start_web(cic_extra='[csat]\nafter = ["interaction"]\n')
    alice = web.api().login("alice")
    alice.call("POST", "/api/me/state", {"state": "available"})
    with sync_playwright() as p:
        browser = launch(p)
        customer = customer_chats(browser, web.base, "Li Lei", "Where is my parcel?")
        offer = wait_for(lambda: alice.call("GET", "/api/work")[1]["offers"], what="the chat offered")[0]
        alice.call("POST", f"/api/interactions/{offer['id']}/accept", {})
        alice.call("POST", f"/api/interactions/{offer['id']}/reply", {"text": "It arrives tomorrow."})
        alice.call("POST", f"/api/interactions/{offer['id']}/end", {})
        assert alice.call("POST", f"/api/interactions/{offer['id']}/wrap-up", {})[0] == 200
        expect(customer.locator(".message.outbound .rating .score")).to_have_count(5, timeout=15000)
        screenshot(customer, "chat-rating")
        customer.click(".rating .score >> text=5")
        expect(customer.locator(".rating")).to_have_count(0)
        browser.close()
    with store.transaction() as conn:
        wait_for(lambda: conn.execute("SELECT score FROM surveys").fetchall() == [(5,)], what="the score recorded")
        (channel,) = conn.execute("SELECT channel FROM surveys").fetchone()
    assert channel == "chat"


def test_csat_turned_on_by_a_reload_asks_from_the_next_chat_on(start_web):
    from tests.web.test_chat_socket import start as start_chat
    from tests.web.test_reload import reload

    web = start_web()
    (web.tmp_path / "cic.toml").write_text((web.tmp_path / "cic.toml").read_text() + '[csat]\nafter = ["interaction"]\n')
    done = reload(web)
    assert done.returncode == 0, done.stderr
    alice = web.api().login("alice")
    alice.call("POST", "/api/me/state", {"state": "available"})
    ws, _ = start_chat(web, name="Li Lei")
    ws.send({"type": "message", "id": "parcel-question", "text": "Where is my parcel?"})
    ws.receive_until("ack")
    offer = wait_for(lambda: alice.call("GET", "/api/work")[1]["offers"], what="the chat offered")[0]
    alice.call("POST", f"/api/interactions/{offer['id']}/accept", {})
    alice.call("POST", f"/api/interactions/{offer['id']}/end", {})
    assert alice.call("POST", f"/api/interactions/{offer['id']}/wrap-up", {})[0] == 200
    while (message := ws.receive_until("message"))["direction"] != "outbound":
        pass
    assert message["kind"] == "survey"
