"""The inbox and the chat widget in a real browser: a customer chats from the demo page while
an agent logs in, accepts, sees the profile, replies and wraps up; the engine is killed in the
middle of the chat and the conversation carries on with nothing lost or doubled."""

from __future__ import annotations

import re

import psycopg
import pytest
from playwright.sync_api import expect, sync_playwright

from cic_engine.adapters.webchat import visitor_signature
from tests import local_http
from tests.local_http import QuietHandler
from tests.real_parts import needs_chromium
from tests.web.browser import customer_chats, launch, screenshot
from tests.web.conftest import PASSWORD

SITE_SECRET = "the-company-site-secret"
pytestmark = needs_chromium


def log_in(page, base: str, login: str) -> None:
    page.goto(base + "/")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button")
    expect(page.locator("#me-name")).to_have_text(
        {"alice": "Alice Chen", "sue": "Sue Visor", "bob": "Bob Smith", "ada": "Ada Admin"}[login])


def supervisor_board(p, web):
    """A browser with Sue, a supervisor, logged in and looking at the board."""
    browser = launch(p)
    page = browser.new_context().new_page()
    log_in(page, web.base, "sue")
    page.click("#board-button")
    return browser, page


def accept_the_offer(page, base: str) -> None:
    """Alice logs in, becomes available and accepts the offer waiting for her."""
    log_in(page, base, "alice")
    page.select_option("#state-select", "available")
    page.locator("#offers .item button.accept").click()


def earlier_email(store, sender: str, name: str, subject: str) -> None:
    """A mail the customer sent before, taken in as the email channel does."""
    from cic_engine.config import CicConfig
    from cic_engine.engine import Engine
    from cic_engine.models import Channel, ContentPart, InboundContact

    Engine(store, CicConfig.model_validate({"queues": [{"name": "general"}, {"name": "chat"}]})).ingest(InboundContact(
        channel=Channel.email, endpoint="support@example.com", external_id=f"<{subject}@example.org>", sender=sender, sender_name=name,
        subject=subject, parts=[ContentPart(body="see subject")], needs_agent=False, metadata={"adapter": "support"}))


class CompanySite:
    """The company's own web site (another origin than the engine's), with a page for a
    logged-in visitor whose widget tag carries the site's signature of who they are."""

    def __init__(self):
        self.page = b""
        site = self

        class Page(QuietHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(site.page)

        self.server, self.origin = local_http.serve(Page)

    def signed_in(self, engine: str, user_id: str, email: str) -> str:
        signature = visitor_signature(SITE_SECRET, user_id, email)
        self.page = (f'<!doctype html><html><head><meta charset="utf-8"><title>Example account</title></head><body>'
                     f'<h1>Your account</h1><script src="{engine}/static/widget.js" data-adapter="webchat" '
                     f'data-user-id="{user_id}" data-email="{email}" data-signature="{signature}" defer></script>'
                     '</body></html>').encode()
        return self.origin + "/account"

    def stop(self):
        local_http.stop(self.server)


@pytest.fixture
def company_site():
    site = CompanySite()
    yield site
    site.stop()


def test_customer_chats_with_an_agent_through_widget_and_inbox(start_web, store, company_site):
    web = start_web(chat_extra=f'allowed_origins = ["{company_site.origin}"]\n'
                               f'[visitor_secret]\npassword = "{SITE_SECRET}"\n')
    earlier_email(store, "li.lei@example.cn", "Li Lei <b>bold</b>", "Parcel 1234 is late")
    payload = 'Hi <img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'
    with sync_playwright() as p:
        browser = launch(p)
        agent = browser.new_context().new_page()
        customer = browser.new_context().new_page()
        errors: list[str] = []
        agent.on("pageerror", lambda e: errors.append(f"inbox: {e}"))
        customer.on("pageerror", lambda e: errors.append(f"demo: {e}"))

        log_in(agent, web.base, "alice")
        agent.select_option("#state-select", "available")
        expect(agent.locator("#me-state")).to_have_attribute("data-state", "available")
        expect(agent.locator("#live")).to_have_text("live")

        # Li Lei is logged in on the company's site, which vouches for her address: the chat is
        # her profile at once, with the mail she sent last week.
        customer.goto(company_site.signed_in(web.base, "u-1001", "li.lei@example.cn"))
        customer.click("text=Chat with Example")
        expect(customer.get_by_placeholder("Email (optional)")).to_be_hidden()
        customer.fill("input[name=name]", "Li Lei <b>bold</b>")
        customer.click("text=Start chat")
        expect(customer.locator(".notice").first).to_have_text("Hello from the test")
        customer.fill(".composer textarea", payload)
        customer.click(".composer button.send")
        expect(customer.locator(".message.inbound")).to_have_attribute("data-state", "delivered")

        # The offer, with its countdown; accepted, it pops the customer's profile.
        offer = agent.locator("#offers .item")
        expect(offer).to_have_count(1)
        expect(offer.locator(".countdown")).to_contain_text(" s")
        offer.locator("button.accept").click()
        expect(agent.locator("#offers .item")).to_have_count(0)
        expect(agent.locator("#mine .item")).to_have_count(1)
        expect(agent.locator("#customer-name")).to_have_text("Li Lei <b>bold</b>")
        expect(agent.locator("#customer-identities")).to_contain_text("email: li.lei@example.cn")
        # The customer's history across channels: the chat now, and the mail of last week.
        expect(agent.locator("#history li")).to_have_count(2)
        expect(agent.locator('#history li[data-channel="email"]')).to_contain_text("Parcel 1234 is late")
        expect(agent.locator("#messages .message .text")).to_have_text([payload])
        expect(customer.locator(".notice").last).to_have_text("Alice Chen joined the chat.")

        agent.fill("#reply-text", "Hello Li Lei, Alice here. Let me check.")
        agent.click("#reply-form button[type=submit]")
        expect(customer.locator(".message.outbound .text")).to_have_text(["Hello Li Lei, Alice here. Let me check."])
        expect(customer.locator(".message.outbound .author")).to_have_text(["Alice Chen"])
        screenshot(agent, "inbox-chat")
        screenshot(customer, "widget-chat")

        # Nothing the customer wrote ran as code, on either page.
        assert agent.evaluate("window.pwned") is None and customer.evaluate("window.pwned") is None
        assert agent.locator("#messages img").count() == 0 and customer.locator("#cic-chat img").count() == 0

        # The engine dies mid-chat. The customer writes meanwhile; the widget holds the message
        # and sends it once the engine is back. The agent's inbox reconnects too.
        web.kill()
        customer.fill(".composer textarea", "Are you still there?")
        customer.click(".composer button.send")
        expect(customer.locator(".message.inbound").last).to_have_attribute("data-state", "sending")
        web.restart()
        expect(customer.locator(".message.inbound").last).to_have_attribute("data-state", "delivered", timeout=20_000)
        expect(agent.locator("#live")).to_have_text("live", timeout=20_000)
        expect(agent.locator("#messages .message .text")).to_have_text(
            [payload, "Hello Li Lei, Alice here. Let me check.", "Are you still there?"], timeout=20_000)
        agent.fill("#reply-text", "Still here. Your parcel leaves today.")
        agent.click("#reply-form button[type=submit]")
        expect(customer.locator(".message.outbound .text")).to_have_text(
            ["Hello Li Lei, Alice here. Let me check.", "Still here. Your parcel leaves today."])

        # The customer reloads the page: the conversation is there, once.
        customer.reload()
        expect(customer.locator(".message")).to_have_count(4)
        # Their own messages are theirs ("You"), not labelled with the name they started with.
        expect(customer.locator(".message.inbound .author")).to_have_text(["You", "You"])

        # Wrap-up with a disposition: the interaction leaves the agent's work.
        agent.click("#end-button")
        expect(agent.locator("#detail-meta")).to_contain_text("Wrap-up")
        ended = "The agent has ended the chat. Write here to continue, or start a new chat."
        expect(customer.locator(".notice").last).to_have_text(ended)
        expect(customer.locator(".new-chat")).to_be_visible()
        agent.fill("#disposition", "resolved")
        agent.click("#wrap-button")
        expect(agent.locator("#mine .item")).to_have_count(0)
        agent.wait_for_timeout(500)
        expect(customer.locator(".notice", has_text=ended)).to_have_count(1)  # wrap-up, then closed: told once
        # A new chat, from the form, on the customer's word.
        customer.click(".new-chat")
        expect(customer.locator(".prechat:not(.offline) input[name=name]")).to_be_visible()
        expect(customer.locator(".composer")).to_be_hidden()
        assert errors == []
        browser.close()

    with psycopg.connect(web.db_url) as conn:  # the chat's messages, each once
        assert conn.execute("""SELECT direction, count(*) FROM messages WHERE channel = 'chat'
                               GROUP BY 1 ORDER BY 1""").fetchall() == [("inbound", 2), ("outbound", 2)]
        assert conn.execute("SELECT state, disposition FROM interactions WHERE channel = 'chat'").fetchall() == [
            ("closed", "resolved")]


def test_supervisor_board_follows_the_queue_live(web):
    from tests.waiting import wait_for
    from tests.web.test_chat_socket import start as start_chat

    with sync_playwright() as p:
        browser, page = supervisor_board(p, web)
        chat_row = page.locator('#queue-board tr[data-queue="chat"][data-channel="chat"] td')
        expect(chat_row.nth(2)).to_have_text("0")
        expect(page.locator('#agent-board tr[data-login="alice"] td').nth(1)).to_have_text("Offline")

        ws, _ = start_chat(web, name="Waiting Customer")
        ws.send({"type": "message", "id": "waiting-message", "text": "hello?"})
        ws.receive_until("ack")
        expect(chat_row.nth(2)).to_have_text("1")
        expect(page.locator("#waiting-board tbody tr")).to_have_count(1)
        expect(page.locator("#waiting-board tbody tr td").nth(3)).to_have_text("Waiting")
        expect(page.locator("#waiting-board tbody tr td").nth(4)).to_have_text("Waiting Customer")

        # The supervisor puts Alice on: the chat is offered to her and leaves the line.
        page.locator('#agent-board tr[data-login="alice"] select').select_option("available")
        expect(chat_row.nth(2)).to_have_text("0")
        expect(page.locator("#waiting-board tbody tr td").nth(3)).to_have_text("Being offered")
        alice = web.api().login("alice")
        offer = wait_for(lambda: alice.call("GET", "/api/work")[1]["offers"])[0]
        assert alice.call("POST", f"/api/interactions/{offer['id']}/accept", {})[0] == 200
        expect(chat_row.nth(6)).to_have_text("1")  # answered
        expect(page.locator("#waiting-board tbody tr")).to_have_count(0)
        expect(chat_row.nth(4)).to_have_text("100% (target 80% in 20 s)")
        expect(page.locator('#agent-board tr[data-login="alice"] td').nth(3)).to_have_text("chat 1")
        # The KPIs of the last 24 hours: the chat, answered, in a table and in the plot.
        kpi = page.locator('#kpi-board tbody tr').first.locator("td")
        expect(kpi.nth(1)).to_have_text("chat/chat")
        expect(kpi.nth(3)).to_have_text("1")
        # The plot (uPlot): every hour of the last 24, the empty ones as 0, with axes and a legend.
        chart = page.locator("#kpi-chart")
        expect(chart.locator("canvas")).to_have_count(1)
        expect(chart.locator(".u-legend")).to_contain_text("Contacts offered")
        expect(chart.locator(".u-legend")).to_contain_text("Service level (%)")
        expect(chart.locator(".u-axis")).to_have_count(3)
        offered = chart.get_attribute("data-offered").split(",")
        assert len(offered) in (24, 25) and offered.count("1") == 1 and set(offered) == {"0", "1"}
        assert [v for v in chart.get_attribute("data-levels").split(",") if v] == ["100"]
        page.select_option("#kpi-group", "agent")
        expect(page.locator('#kpi-board tbody tr').first.locator("td").nth(1)).to_have_text("alice")
        expect(page.locator("#kpi-csv")).to_have_attribute("href", "/api/reports/kpi?format=csv&interval=hour&group=agent")
        screenshot(page, "supervisor-board")
        browser.close()


def test_agent_transfers_a_chat_to_another_queue(web):
    from tests.waiting import wait_for
    from tests.web.test_chat_socket import start as start_chat

    ws, _ = start_chat(web, name="Transfer Customer")
    ws.send({"type": "message", "id": "billing-question", "text": "I was charged twice."})
    ws.receive_until("ack")
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_context().new_page()
        accept_the_offer(page, web.base)
        expect(page.locator("#customer-name")).to_have_text("Transfer Customer")
        page.select_option("#transfer-queue", "billing")
        page.click("#transfer-button")
        expect(page.locator("#mine .item")).to_have_count(0)
        browser.close()
    assert ws.receive_until("notice")["text"] == "Alice Chen joined the chat."
    assert ws.receive_until("notice")["code"] == "transferring"
    bob = web.api().login("bob")
    bob.call("POST", "/api/me/state", {"state": "available"})
    offer = wait_for(lambda: bob.call("GET", "/api/work")[1]["offers"])[0]
    assert (offer["queue"], offer["customer_name"]) == ("billing", "Transfer Customer")
    bob.call("POST", f"/api/interactions/{offer['id']}/accept", {})
    assert ws.receive_until("notice")["text"] == "Bob Smith joined the chat."


def test_email_html_and_subjects_render_inert_in_the_inbox(web, store):
    from cic_engine.config import CicConfig
    from cic_engine.engine import Engine
    from cic_engine.models import Channel, ContentPart, InboundContact

    # Straight into ingest, not through the email adapter's sanitiser: even HTML that was never
    # cleaned must not run in the inbox.
    hostile = ('<p>Invoice attached</p><img src=x onerror="parent.pwned=1"><script>parent.pwned=2</script>'
               '<a href="javascript:parent.pwned=3">pay</a>')
    engine = Engine(store, CicConfig.model_validate({"queues": [{"name": "general"}, {"name": "chat"}]}))
    engine.ingest(InboundContact(
        channel=Channel.email, endpoint="support@example.com", external_id="<hostile@example.org>",
        sender="Mallory <mallory@example.org>", sender_name='<img src=x onerror="parent.pwned=4">',
        subject='<script>parent.pwned=5</script>Invoice', parts=[
            ContentPart(content_type="text/plain", body="Invoice attached"),
            ContentPart(content_type="text/html", body=hostile)],
        metadata={"adapter": "support"}))
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_context().new_page()
        accept_the_offer(page, web.base)
        expect(page.locator("#detail-title")).to_have_text("<script>parent.pwned=5</script>Invoice")
        expect(page.locator("#customer-name")).to_have_text('<img src=x onerror="parent.pwned=4">')
        page.click("button.formatted")
        frame = page.locator("iframe.mail-html")
        expect(frame).to_have_attribute("sandbox", "")
        expect(page.frame_locator("iframe.mail-html").locator("p")).to_have_text("Invoice attached")
        page.frame_locator("iframe.mail-html").locator("a").click()
        page.wait_for_timeout(500)
        assert page.evaluate("window.pwned") is None
        assert page.locator("#detail img, #customer-name img").count() == 0
        screenshot(page, "inbox-email")
        browser.close()


def test_an_email_typed_into_the_widget_shows_as_a_claim_to_the_agent(web):
    """A visitor types someone's address: the agent sees it as what the visitor says, never as
    who they are, and the profile is the chat's own."""
    with sync_playwright() as p:
        browser = launch(p)
        agent = browser.new_context().new_page()
        customer = browser.new_context().new_page()
        log_in(agent, web.base, "alice")
        agent.select_option("#state-select", "available")
        customer.goto(web.base + "/demo")
        customer.click("text=Chat with Example")
        customer.fill("input[name=name]", "王芳")
        customer.get_by_placeholder("Email (optional)").fill("ceo@example.cn")
        customer.click("text=Start chat")
        customer.fill(".composer textarea", "请把我的账单发给我")
        customer.click(".composer button.send")
        agent.locator("#offers .item button.accept").click()
        expect(agent.locator("#messages .message .claim")).to_have_text(["says they are ceo@example.cn (not verified)"])
        expect(agent.locator("#customer-identities")).not_to_contain_text("email:")
        expect(customer.locator(".transcript")).to_be_hidden()  # nothing is mailed to an unproved address
        screenshot(agent, "inbox-chat-claimed-email")
        browser.close()


def test_a_supervisor_sees_rejected_contacts_and_reingests_one_after_the_fix(web, store):
    from tests.rejecting import refusing
    from tests.web.test_chat_socket import start as start_chat

    ws, _ = start_chat(web, name="Li Lei")
    with refusing(store, "message_parts", "NEW.body LIKE '%退款%'") as lift:
        ws.send({"type": "message", "id": "refund-message-1", "text": "我要退款 <img src=x onerror=alert(1)>"})
        refused = ws.receive_until("nack")["rejected"]
        ws.send("<script>alert(1)</script> not json")
        garbage = ws.receive_until("error")["rejected"]
        with sync_playwright() as p:
            browser, page = supervisor_board(p, web)
            rows = page.locator("#rejected-board tbody tr")
            expect(rows).to_have_count(2)
            first = page.locator(f'#rejected-board tr[data-id="{refused}"] td')
            expect(first.nth(0)).to_have_text(f"R{refused}")
            expect(first.nth(2)).to_have_text("chat (webchat)")
            expect(first.nth(4)).to_contain_text("CheckViolation: value refused by a rule this test added")
            expect(page.locator(f'#rejected-board tr[data-id="{garbage}"] td').nth(4)).to_contain_text(
                "not a chat message: JSONDecodeError")
            screenshot(page, "supervisor-rejected-contacts")
            lift(store, "message_parts")
            first.nth(5).locator("button", has_text="Re-ingest").click()
            expect(rows).to_have_count(1, timeout=15000)  # taken in; the garbage frame stays on the list
            page.locator(f'#rejected-board tr[data-id="{garbage}"] button', has_text="Re-ingest").click()
            expect(page.locator(f'#rejected-board tr[data-id="{garbage}"] td').nth(4)).to_contain_text(
                "tried again: ValueError: not a chat message the customer sent", timeout=15000)
            page.locator(f'#rejected-board tr[data-id="{garbage}"] button', has_text="Dismiss").click()
            expect(rows).to_have_count(0)
            browser.close()
    with psycopg.connect(web.db_url) as conn:
        [(body,)] = conn.execute("SELECT p.body FROM message_parts p JOIN messages m ON m.id = p.message_id "
                                 "WHERE m.external_id LIKE '%:refund-message-1'").fetchall()
    assert body == "我要退款 <img src=x onerror=alert(1)>"


def test_logging_out_makes_the_agent_offline_so_no_chat_is_offered_to_an_empty_desk(web):
    from tests.waiting import wait_for
    from tests.web.test_chat_socket import start as start_chat

    sue = web.api().login("sue")

    def alice_state() -> str:
        return next(a["state"] for a in sue.call("GET", "/api/board")[1]["agents"] if a["login"] == "alice")

    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_context().new_page()
        log_in(page, web.base, "alice")
        page.select_option("#state-select", "available")
        expect(page.locator("#me-state")).to_have_attribute("data-state", "available")  # the engine has it
        wait_for(lambda: alice_state() == "available", what="alice available on the board")
        page.click("#logout")
        expect(page.locator("input[name=login]")).to_be_visible()
        browser.close()
    assert alice_state() == "offline"
    ws, _ = start_chat(web, name="Nobody Home")
    ws.send({"type": "message", "id": "after-logout-1", "text": "hello?"})
    ws.receive_until("ack")
    board = sue.call("GET", "/api/board")[1]
    assert [w["state"] for w in board["waiting"]] == ["queued"]  # waits for an agent who is there


def test_an_agents_chat_reply_with_a_file_reaches_the_customer_with_an_image_preview(web):
    import base64
    import urllib.error
    import urllib.request

    from tests.web.test_chat_socket import PNG
    from tests.web.test_chat_socket import start as start_chat

    with sync_playwright() as p:
        browser = launch(p)
        customer = customer_chats(browser, web.base, "王芳", "请把发票发给我")
        alice = web.api().login("alice")
        alice.call("POST", "/api/me/state", {"state": "available"})
        from tests.waiting import wait_for
        offer = wait_for(lambda: alice.call("GET", "/api/work")[1]["offers"], what="the offer")[0]
        assert alice.call("POST", f"/api/interactions/{offer['id']}/accept", {})[0] == 200
        status, body = alice.call("POST", f"/api/interactions/{offer['id']}/reply", {
            "text": "发票在这里", "files": [{"filename": "发票.png", "content_type": "image/png",
                                        "content": base64.b64encode(PNG).decode()}]})
        assert status == 202, body
        reply = customer.locator(".message.outbound", has_text="发票在这里")
        expect(reply.locator("a.file")).to_have_text("发票.png")
        expect(reply.locator("img.preview")).to_have_attribute("alt", "发票.png")
        with customer.expect_download() as download:
            reply.locator("a.file").click()
        assert download.value.suggested_filename == "发票.png"
        assert open(download.value.path(), "rb").read() == PNG
        screenshot(customer, "widget-file-from-agent")
        # The inbox shows what was sent, too.
        view = alice.call("GET", f"/api/interactions/{offer['id']}")[1]
        [sent] = [m for m in view["messages"] if m["direction"] == "outbound"]
        [attachment] = sent["attachments"]
        assert attachment["filename"] == "发票.png"
        browser.close()
    # Another chat's token (or none) gets nothing.
    _, other_token = start_chat(web, name="Someone Else")
    for token in (other_token, ""):
        request = urllib.request.Request(f"{web.base}/chat/webchat/files/{attachment['id']}",
                                         headers={"X-Chat-Token": token})
        try:
            urllib.request.urlopen(request, timeout=10)
            raise AssertionError("served to another chat")
        except urllib.error.HTTPError as exc:
            assert exc.code == 404


def test_search_finds_message_text_chinese_and_numbers_within_what_one_may_see(web):
    from tests.web.test_inbox_tools import accepted_chat

    alice, interaction_id = accepted_chat(web, name="Zhang Wei")
    with psycopg.connect(web.db_url) as conn:  # what the customer wrote, as ingest stored it
        conn.execute("UPDATE message_parts SET body = '我的发票号是 INV-2026-0042，还没收到'")
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_context().new_page()
        log_in(page, web.base, "alice")
        for query in ("发票", "0042", "inv-2026"):
            page.fill("#search-text", query)
            page.press("#search-text", "Enter")
            expect(page.locator("#search-results")).to_have_attribute("data-query", query)
            expect(page.locator("#found-interactions li")).to_have_count(1)
            expect(page.locator("#found-interactions li")).to_contain_text(f"#{interaction_id}")
        page.fill("#search-text", "退款")
        page.press("#search-text", "Enter")
        expect(page.locator("#search-results")).to_have_attribute("data-query", "退款")
        expect(page.locator("#found-interactions li")).to_have_count(0)
        screenshot(page, "inbox-search-message-text")
        browser.close()
    bob = web.api().login("bob")  # not in the chat queue: sees nothing of it
    assert bob.call("GET", "/api/search?q=%E5%8F%91%E7%A5%A8")[1]["interactions"] == []


def test_click_to_call_without_a_voice_channel_says_so_at_once_beside_the_box(web):
    import time

    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_context().new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        log_in(page, web.base, "alice")
        page.fill("#dial-number", "+8613800138000")
        started = time.monotonic()
        page.click("#dial-form button")
        expect(page.locator("#dial-error")).to_have_text(
            'no voice channel is set up: calls need a channels/*.toml with kind = "voice"', timeout=5000)
        assert time.monotonic() - started < 5 and dialogs == []
        browser.close()


def test_a_file_the_agent_sends_reaches_a_widget_on_the_companys_own_site(start_web, company_site):
    """The widget on another origin asks before sending its token header (a CORS preflight): the
    engine answers for the allowed site only, and the picture and the download work there."""
    import base64
    import urllib.error
    import urllib.request

    from tests.waiting import wait_for
    from tests.web.test_widget_language import PNG  # a real picture, which the browser can draw

    web = start_web(chat_extra=f'allowed_origins = ["{company_site.origin}"]\n'
                               f'[visitor_secret]\npassword = "{SITE_SECRET}"\n')
    alice = web.api().login("alice")
    alice.call("POST", "/api/me/state", {"state": "available"})
    with sync_playwright() as p:
        browser = launch(p)
        customer = browser.new_context().new_page()
        customer.goto(company_site.signed_in(web.base, "u-2002", "han.mei@example.cn"))
        customer.click("text=Chat with Example")
        customer.fill(".prechat:not(.offline) input[name=name]", "Han Mei")
        customer.click("text=Start chat")
        customer.fill(".composer textarea", "Please send the invoice.")
        customer.press(".composer textarea", "Enter")
        offer = wait_for(lambda: alice.call("GET", "/api/work")[1]["offers"], what="the offer")[0]
        assert alice.call("POST", f"/api/interactions/{offer['id']}/accept", {})[0] == 200
        assert alice.call("POST", f"/api/interactions/{offer['id']}/reply", {
            "text": "Here it is", "files": [{"filename": "invoice.png", "content_type": "image/png",
                                           "content": base64.b64encode(PNG).decode()}]})[0] == 202
        reply = customer.locator(".message.outbound", has_text="Here it is")
        expect(reply.locator("img.preview")).to_have_attribute("src", re.compile(r"^blob:"))  # fetched across origins
        assert reply.locator("img.preview").evaluate("img => img.decode().then(() => img.naturalWidth)") > 0
        with customer.expect_download() as download:
            reply.locator("a.file").click()
        assert open(download.value.path(), "rb").read() == PNG
        browser.close()
    # The preflight is answered for the company's site, refused for any other.
    asked = {"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "x-chat-token"}
    request = urllib.request.Request(f"{web.base}/chat/webchat/files/1", method="OPTIONS",
                                     headers={"Origin": company_site.origin, **asked})
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 204
        assert answer.headers["Access-Control-Allow-Origin"] == company_site.origin
        assert answer.headers["Access-Control-Allow-Headers"] == "X-Chat-Token"
    request = urllib.request.Request(f"{web.base}/chat/webchat/files/1", method="OPTIONS",
                                     headers={"Origin": "https://evil.example", **asked})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403
