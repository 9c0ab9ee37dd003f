"""The agent desktop as an agent works in it all day: what the buttons do in each state, what
an error says and how long it stays, keyboard use, notifications of offers."""

from __future__ import annotations

import re

import psycopg
from playwright.sync_api import expect, sync_playwright

from tests.real_parts import needs_chromium
from tests.web.browser import launch
from tests.web.test_access import ROLES_TOML
from tests.web.test_browser import accept_the_offer, log_in
from tests.web.test_chat_socket import start as start_chat

pytestmark = needs_chromium


def _agent_says(ws) -> str:
    while (message := ws.receive_until("message"))["direction"] != "outbound":
        pass
    return message["text"]


def _customer_message(web, name: str, text: str, client_id: str = "first-message"):
    ws, _ = start_chat(web, name=name)
    ws.send({"type": "message", "id": client_id, "text": text})
    ws.receive_until("ack")
    return ws


def test_a_transfer_to_an_agent_who_cannot_take_it_is_refused_and_the_reason_stays(web):
    ws = _customer_message(web, "Transfer Customer", "I was charged twice.", "question-1")
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_context().new_page()
        accept_the_offer(page, web.base)
        expect(page.locator("#customer-name")).to_have_text("Transfer Customer")
        page.fill("#transfer-agent", "bob")  # logged out
        page.click("#transfer-button")
        error = page.locator("#detail-error")
        expect(error).to_have_text("Bob Smith is offline: choose another agent or a queue")
        expect(page.locator("#mine .item")).to_have_count(1)  # still hers
        # The customer writes meanwhile: the refresh that follows keeps the reason on screen.
        ws.send({"type": "message", "id": "question-2", "text": "Hello?"})
        expect(page.locator("#messages .message .text").last).to_have_text("Hello?")
        expect(error).to_have_text("Bob Smith is offline: choose another agent or a queue")
        browser.close()
    assert all(m.get("code") != "transferring" for m in ws.drain())


def test_an_offer_is_announced_on_the_board_too_and_accepted_from_there(web):
    """A supervisor who also takes chats sits on the board: the offer reaches them there."""
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_context().new_page()
        log_in(page, web.base, "sue")
        page.select_option("#state-select", "available")
        page.click("#board-button")
        expect(page.locator("#board")).to_be_visible()
        ws = _customer_message(web, "Board Customer", "Anyone there?")
        banner = page.locator("#offer-banner")
        expect(banner).to_be_visible()
        expect(banner).to_contain_text("New offer: chat from Board Customer")
        expect(page).to_have_title(re.compile(r"^\(1\) New offer"))
        expect(page.locator("body")).to_have_attribute("data-beeps", "1")  # the tone, once
        page.click("#offer-banner-accept")
        expect(page.locator("#board")).to_be_hidden()
        expect(page.locator("#customer-name")).to_have_text("Board Customer")
        expect(banner).to_be_hidden()
        expect(page).not_to_have_title(re.compile("New offer"))
        browser.close()
    ws.close()


def test_the_buttons_follow_the_state_and_the_keyboard_works_the_desk(web):
    requested: list[str] = []
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_context().new_page()
        page.on("request", lambda r: requested.append(r.url))
        log_in(page, web.base, "alice")
        page.select_option("#state-select", "available")
        ws = _customer_message(web, "Keyboard Customer", "订单 1234 的发票")
        expect(page.locator("#offers .item")).to_have_count(1)
        page.locator("body").press("a")  # accept the first offer
        expect(page.locator("#customer-name")).to_have_text("Keyboard Customer")
        # The header: the picker says Available, the badge only what work adds to it.
        expect(page.locator("#me-state")).to_have_text("Busy")
        expect(page.locator("#detail-meta")).to_contain_text("Active")
        expect(page.locator("#end-button")).to_be_visible()
        expect(page.locator("#wrap-button")).to_be_hidden()
        # r: to the reply box; Enter sends a chat reply; Shift+Enter is a new line.
        page.locator("body").press("r")
        expect(page.locator("#reply-text")).to_be_focused()
        page.keyboard.type("您好")
        page.keyboard.press("Shift+Enter")
        page.keyboard.type("Alice here")
        page.keyboard.press("Enter")
        assert _agent_says(ws) == "您好\nAlice here"
        # A note sits in the conversation, not only in the collapsed timeline.
        page.fill("#reply-text", "customer asked for a VAT invoice")
        page.click("#note-button")
        expect(page.locator("#messages .message.note .text")).to_have_text("customer asked for a VAT invoice")
        # Escape leaves the box; e ends the conversation: wrap-up, with its own buttons and a countdown.
        page.locator("#reply-text").press("Escape")
        page.locator("body").press("e")
        expect(page.locator("#detail-meta")).to_contain_text("Wrap-up")
        for gone in ("#end-button", "#transfer-button", "#reply-form button[type=submit]"):
            expect(page.locator(gone)).to_be_hidden()
        expect(page.locator("#wrap-button")).to_be_visible()
        expect(page.locator("#wrap-countdown")).to_contain_text(re.compile(r"Closes by itself in \d+ s"))
        expect(page.locator("#me-state")).to_have_text("Wrap-up")
        # ? lists the shortcuts.
        page.locator("body").press("?")
        expect(page.locator("#shortcuts")).to_be_visible()
        expect(page.locator("#shortcuts")).to_contain_text("Accept the first offer")
        page.keyboard.press("Escape")
        page.click("#wrap-button")
        expect(page.locator("#mine .item")).to_have_count(0)
        browser.close()
    ws.close()
    assert not [u for u in requested if u.endswith("/api/interactions/null")]


def test_unread_counts_filters_and_j_k_between_conversations(web):
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_context().new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        log_in(page, web.base, "alice")
        page.select_option("#state-select", "available")
        first = _customer_message(web, "First Customer", "first question", "first-question")
        expect(page.locator("#offers .item")).to_have_count(1)
        page.locator("#offers .item button.accept").click()
        expect(page.locator("#mine .item")).to_have_count(1)
        expect(page.locator("#offers .item")).to_have_count(0)
        expect(page.locator("#customer-name")).to_have_text("First Customer")  # she has read it
        second = _customer_message(web, "Second Customer", "second question", "second-question")
        expect(page.locator("#offers .item")).to_have_count(1)
        page.locator("#offers .item button.accept").click()
        expect(page.locator("#mine .item")).to_have_count(2)
        expect(page.locator("#customer-name")).to_have_text("Second Customer")
        # The first customer writes twice while Alice reads the second: 2 unread on the first.
        for n in (1, 2):
            first.send({"type": "message", "id": f"first-more-{n}", "text": f"more {n}"})
            first.receive_until("ack")
        row = page.locator('#mine .item', has_text="First Customer")
        expect(row.locator(".unread")).to_have_text("2")
        expect(page.locator("#mine .item").first).to_contain_text("Second Customer")  # newest first
        # Alice answers the second customer. Waiting longest first: those whose last word has no
        # answer, the longest waiting on top; the answered one last.
        page.fill("#reply-text", "Let me check.")
        page.keyboard.press("Enter")
        expect(page.locator("#messages .message.outbound")).to_have_count(1)
        page.select_option("#filter-order", "waiting")
        expect(page.locator("#mine .item")).to_have_text([re.compile("First Customer"), re.compile("Second Customer")])
        page.keyboard.press("Escape")  # out of the filter, back to the desk's keys
        page.keyboard.press("k")  # the one above the second customer's: the first's
        expect(page.locator("#customer-name")).to_have_text("First Customer")
        expect(row.locator(".unread")).to_have_count(0)  # read now
        page.keyboard.press("j")
        expect(page.locator("#customer-name")).to_have_text("Second Customer")
        # Tab to a conversation, Enter opens it.
        page.locator('#mine .item', has_text="First Customer").focus()
        page.keyboard.press("Enter")
        expect(page.locator("#customer-name")).to_have_text("First Customer")
        assert errors == []
        page.select_option("#filter-state", "active")
        expect(page.locator("#mine .item")).to_have_count(2)
        page.select_option("#filter-channel", "chat")
        expect(page.locator("#mine .item")).to_have_count(2)
        page.select_option("#filter-queue", "chat")
        expect(page.locator("#mine .item")).to_have_count(2)
        page.select_option("#filter-state", "wrap_up")  # none: the list says so
        expect(page.locator("#mine .item")).to_have_count(0)
        expect(page.locator("#mine-empty")).to_have_text("No conversations")
        browser.close()
    first.close()
    second.close()


def test_the_board_shows_agents_and_the_channels_that_run_and_refuses_a_campaign_nothing_can_send(start_web):
    web = start_web(cic_extra=ROLES_TOML)  # ada (admin), department users bill and tom
    ada = web.api().login("ada")
    status, board = ada.call("GET", "/api/board")
    assert status == 200
    assert "bill" not in [a["login"] for a in board["agents"]]  # a department user works cases
    assert {"alice", "bob", "sue", "ada"} <= {a["login"] for a in board["agents"]}
    # Only the web chat runs in this engine: no rows of zeros for email, SMS, voice, fax.
    assert {q["channel"] for q in board["queues"]} == {"chat"}
    status, made = ada.call("POST", "/api/campaigns", {
        "name": "renew-sms", "channel": "sms", "queue": "general",
        "hours": {"start": "00:00", "end": "00:00", "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]},
        "template": "Hi {name}, your plan renews soon."})
    assert status == 201, made
    status, said = ada.call("POST", f"/api/campaigns/{made['id']}/start")
    assert (status, said["error"]) == (409, "no sms channel is configured: add one under channels/, then start the "
                                            "campaign")
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_context().new_page()
        log_in(page, web.base, "ada")
        page.click("#board-button")
        row = page.locator("#campaign-board tr[data-campaign='renew-sms']")
        row.locator("button").click()
        expect(page.locator("#campaign-error")).to_have_text(said["error"])
        expect(row).to_contain_text("paused")
        # The campaign name's pattern is one the browser applies (it ignored the old one).
        page.click("#campaign-new summary")
        name = page.locator("#campaign-form [name=name]")
        name.fill("Bad Name!")
        assert name.evaluate("e => e.validity.patternMismatch") is True
        name.fill("spring-sale_2")
        assert name.evaluate("e => e.validity.valid") is True
        browser.close()


def test_reply_by_offers_only_channels_that_can_send(web, store):
    """A customer known by email, in an engine with no email channel: no "Reply by email"."""
    ws = _customer_message(web, "Mail Customer", "hello")
    with psycopg.connect(web.db_url) as conn:
        conn.execute("""INSERT INTO customer_identities (customer_id, kind, value, created_at)
                        SELECT customer_id, 'email', 'mail.customer@example.com', now() FROM interactions
                        WHERE channel = 'chat' ORDER BY id DESC LIMIT 1""")
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_context().new_page()
        accept_the_offer(page, web.base)
        expect(page.locator("#customer-identities")).to_contain_text("mail.customer@example.com")
        expect(page.locator("#reply-channel option")).to_have_text(["chat"])
        # A long identity (the chat's key) wraps inside the profile card instead of overflowing it.
        assert page.locator(".profile").evaluate("e => e.scrollWidth <= e.clientWidth")
        browser.close()
    ws.close()


def test_an_agent_whose_inbox_is_gone_is_shown_away_to_the_supervisor_after_the_grace(start_web):
    """A tab shut without logging out (a closed lid, a lost network): after the grace the agent
    is away (disconnected) on the supervisor's board, and no chat is offered to nobody."""
    from tests.waiting import wait_for

    web = start_web(routing_extra="disconnected_after_s = 20")
    sue = web.api().login("sue")
    with sync_playwright() as p:
        browser = launch(p)
        context = browser.new_context()
        page = context.new_page()
        log_in(page, web.base, "alice")
        page.select_option("#state-select", "available")
        expect(page.locator("#me-state")).to_have_attribute("data-state", "available")
        context.close()  # no logout
        row = lambda: next(a for a in sue.call("GET", "/api/board")[1]["agents"] if a["login"] == "alice")  # noqa: E731
        assert row()["state"] == "available"  # a reconnect may still come
        gone = wait_for(lambda: (r := row())["state"] == "away" and r, timeout=40, what="alice set away")
        assert gone["away_reason"] == "disconnected"
        board = browser.new_context().new_page()
        log_in(board, web.base, "sue")
        board.click("#board-button")
        expect(board.locator('#agent-board tr[data-login="alice"] td').nth(1)).to_have_text("Away (disconnected)")
        browser.close()


def test_a_chat_the_only_agent_turned_down_comes_back_to_her_after_reoffer_after_s(start_web):
    """Turned down (or missed) is not "never": with nobody else there, the chat is offered to
    her again once reoffer_after_s has passed, instead of waiting for ever."""
    web = start_web(routing_extra="reoffer_after_s = 3")
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_context().new_page()
        log_in(page, web.base, "alice")
        page.select_option("#state-select", "available")
        ws = _customer_message(web, "Patient Customer", "hello?")
        offer = page.locator("#offers .item")
        expect(offer).to_have_count(1)
        offer.locator("button.reject").click()
        expect(offer).to_have_count(0)
        page.wait_for_timeout(1500)
        expect(offer).to_have_count(0)  # not straight back
        expect(offer).to_have_count(1, timeout=10_000)
        expect(offer).to_contain_text("Patient Customer")
        browser.close()
    ws.close()


def test_a_customer_in_line_is_told_now_and_then_that_they_still_are(start_web):
    web = start_web(chat_extra="waiting_notice_s = 1\n")  # nobody is available
    ws = _customer_message(web, "Waiting Customer", "hello?")
    notice = ws.receive_until("notice", timeout=5)
    assert notice["code"] == "still_waiting"
    alice = web.api().login("alice")
    alice.call("POST", "/api/me/state", {"state": "available"})
    from tests.waiting import wait_for
    offer = wait_for(lambda: alice.call("GET", "/api/work")[1]["offers"], what="the offer")[0]
    alice.call("POST", f"/api/interactions/{offer['id']}/accept", {})
    assert ws.receive_until("notice")["code"] == "joined"
    assert [m for m in ws.drain(2.5) if m.get("code") == "still_waiting"] == []  # not once an agent is there
    ws.close()
