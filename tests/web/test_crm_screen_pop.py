"""The company's CRM in the agent's screen pop, in Chromium: a real HTTP CRM answers a lookup
with JSON (its fields shown as text, never markup) and serves its own page in a frame; a CRM
that hangs neither delays the offer nor the conversation, and is shown as unavailable."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse

import pytest
from playwright.sync_api import expect, sync_playwright

from tests import local_http
from tests.local_http import QuietHandler
from tests.real_parts import needs_chromium
from tests.web.browser import launch, screenshot
from tests.web.test_api_v1 import ADMIN_AND_CASES, call, make_token
from tests.web.test_browser import log_in

pytestmark = needs_chromium


class Crm:
    """The company's CRM: /lookup answers JSON for a customer, /page is its own page for one,
    /hang never answers in time."""

    def __init__(self):
        self.asked: list[dict[str, list[str]]] = []
        self.hanging = threading.Event()
        crm = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                url = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(url.query)
                if url.path == "/hang":
                    crm.hanging.set()
                    time.sleep(20)
                    body, kind = b"{}", "application/json"
                elif url.path == "/lookup":
                    crm.asked.append(query)
                    body = json.dumps({"orders": [{"id": "A-1", "status": "已发货 shipped"}],
                                       "balance": "<b>¥99</b><script>alert(1)</script>"}, ensure_ascii=False).encode()
                    kind = "application/json"
                else:
                    email = query.get("email", ["?"])[0]
                    body = f"<!doctype html><h1>CRM record of {email}</h1>".encode()
                    kind = "text/html; charset=utf-8"
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", kind)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the engine gave up on it

        self.server, self.base = local_http.serve(Handler)

    def close(self) -> None:
        local_http.stop(self.server)


@pytest.fixture
def crm():
    server = Crm()
    yield server
    server.close()


def crm_settings(crm: Crm) -> str:
    return f"""
[[integrations.crm]]
name = "订单系统"
url = "{crm.base}/lookup?email={{email}}&phone={{phone}}"
fields = [{{ label = "Order", path = "orders.0.status" }}, {{ label = "Balance", path = "balance" }},
          {{ label = "Missing", path = "nothing.here" }}]
link = "{crm.base}/page?email={{email}}"
frame = true
channels = ["email"]
[[integrations.crm]]
name = "Slow CRM"
url = "{crm.base}/hang?customer={{customer_id}}"
timeout_s = 1.5
"""


def test_the_screen_pop_shows_the_crm_and_a_hanging_one_delays_nothing(start_web, crm):
    web = start_web(cic_extra=ADMIN_AND_CASES + crm_settings(crm))
    token = make_token(web, "shop", ["interactions:write"])
    with sync_playwright() as p:
        browser = launch(p)
        for language, agent, queue, email in (("en", "alice", "general", "wang.fang@example.com"),
                                              ("zh-CN", "bob", "billing", "zhou.min@example.com")):
            page = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
            if language == "zh-CN":
                page.goto(web.base + "/")
                page.select_option("#login .lang-select", "zh-CN")
                expect(page.locator("#login-form button")).to_have_text("登录")
            log_in(page, web.base, agent)
            page.select_option("#state-select", "available")
            status, made, _ = call(web.base, "POST", "/api/v1/interactions", token, {
                "channel": "email", "external_id": f"form-{agent}", "email": email, "name": "王芳",
                "text": "请帮我查一下订单", "queue": queue})
            assert status == 201, made
            # The offer is on screen while the slow CRM is still hanging (it answers after 20 s).
            started = time.monotonic()
            expect(page.locator("#offers .item")).to_have_count(1, timeout=10_000)
            assert crm.hanging.wait(10) and time.monotonic() - started < 10
            page.locator("#offers .item button.accept").click()
            expect(page.locator("#messages .message.inbound .text")).to_have_text("请帮我查一下订单")

            lookup = page.locator("#crm .crm-lookup").nth(0)
            expect(lookup.locator("h3")).to_have_text("订单系统")
            expect(lookup.locator("dd")).to_have_text(["已发货 shipped", "<b>¥99</b><script>alert(1)</script>", "-"])
            expect(lookup.locator("dd b")).to_have_count(0)  # shown as text, not markup
            expect(page.frame_locator("#crm .crm-frame").locator("h1")).to_have_text(f"CRM record of {email}")
            slow = page.locator("#crm .crm-lookup").nth(1)
            expect(slow).to_have_attribute("data-state", "unavailable")
            expect(slow.locator(".crm-unavailable")).to_have_text(
                "CRM 暂不可用" if language == "zh-CN" else "CRM unavailable")
            expect(slow.locator(".meta")).to_have_text("no answer in 1.5 s")
            screenshot(page, f"inbox-crm-screen-pop-{language}")
            page.context.close()
        browser.close()
    assert [q["email"] for q in crm.asked] == [["wang.fang@example.com"], ["zhou.min@example.com"]]


def test_the_crm_panel_is_only_for_agents_who_may_see_the_interaction(start_web, crm):
    web = start_web(cic_extra=ADMIN_AND_CASES + crm_settings(crm))
    token = make_token(web, "shop", ["interactions:write"])
    status, made, _ = call(web.base, "POST", "/api/v1/interactions", token, {
        "channel": "email", "external_id": "form-x", "email": "li@example.com", "text": "hi", "queue": "general"})
    path = f"/api/interactions/{made['interaction_id']}/crm"
    assert web.api().login("bob").call("GET", path)[0] == 404  # not his queue: as if it did not exist
    assert web.api().call("GET", path)[0] == 401
    assert call(web.base, "GET", path, token)[0] == 401  # an API token is not an agent
    status, found = web.api().login("alice").call("GET", path)
    assert status == 200 and found["lookups"][0]["fields"][0] == {"label": "Order", "value": "已发货 shipped"}
