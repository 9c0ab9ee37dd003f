"""An admin sets up the company's other systems on the board, in Chromium, in both languages:
a token made with its scopes (shown once, then used by an integration, then revoked), a webhook
subscription whose failed deliveries show in the log with the receiver's error, and a replay.
A supervisor sees the board but not this part."""

from __future__ import annotations

from playwright.sync_api import expect, sync_playwright

from tests.core.test_run import free_port
from tests.real_parts import needs_chromium
from tests.web.browser import launch, screenshot
from tests.web.test_api_v1 import ADMIN_AND_CASES, call
from tests.web.test_browser import log_in

pytestmark = needs_chromium
FAST_RETRIES = "[outbox]\nbackoff_s = 600\nmax_attempts = 1\n"  # an unreachable receiver fails at once


def test_an_admin_makes_a_token_and_a_webhook_and_replays_a_delivery(start_web):
    web = start_web(cic_extra=ADMIN_AND_CASES + FAST_RETRIES)
    nowhere = f"http://127.0.0.1:{free_port()}/hooks"  # nothing listens there
    with sync_playwright() as p:
        browser = launch(p)
        for language in ("en", "zh-CN"):
            page = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
            if language == "zh-CN":
                page.goto(web.base + "/")
                page.select_option("#login .lang-select", "zh-CN")
                expect(page.locator("#login-form button")).to_have_text("登录")
            log_in(page, web.base, "ada")
            page.click("#board-button")
            section = page.locator("#integrations")
            expect(section).to_be_visible()

            # A token with two scopes: shown once, and it works for what it allows.
            name = f"crm-{language}"
            page.fill("#token-form input[name=name]", name)
            page.check("#token-scopes input[value='interactions:write']")
            page.check("#token-scopes input[value='customers:read']")
            page.click("#token-form button[type=submit]")
            shown = page.locator("#integrations-made code.secret")
            expect(shown).to_contain_text("cic_")
            token = shown.inner_text()
            row = page.locator(f"#token-board tr[data-name='{name}']")
            expect(row).to_contain_text("customers:read, interactions:write")

            # A webhook to a receiver that is down: its delivery fails, with the reason.
            page.fill("#webhook-form input[name=name]", f"shop-{language}")
            page.fill("#webhook-form input[name=url]", nowhere)
            page.check("#webhook-events input[value='interaction.opened']")
            page.click("#webhook-form button[type=submit]")
            expect(page.locator("#integrations-made")).to_contain_text(f"shop-{language}")
            status, made, _ = call(web.base, "POST", "/api/v1/interactions", token, {
                "channel": "email", "external_id": f"f-{language}", "email": f"{language}@example.com", "text": "hi"})
            assert status == 201, made
            page.select_option("#delivery-state", "failed")
            failed = page.locator("#delivery-board tbody tr[data-state=failed]").first
            expect(failed).to_contain_text("receiver unreachable", timeout=15_000)
            expect(failed).to_contain_text("interaction.opened")
            failed.locator("button").click()
            expect(page.locator("#integrations-made")).to_contain_text(
                "已重新发送" if language == "zh-CN" else "sent again")
            screenshot(page, f"board-integrations-{language}")

            # Revoked: the integration is refused at once.
            row.locator("button").click()
            expect(row).to_contain_text("已吊销" if language == "zh-CN" else "revoked")
            assert call(web.base, "GET", "/api/v1/customers?email=x@example.com", token)[0] == 401
            page.context.close()

        supervisor = browser.new_context().new_page()
        log_in(supervisor, web.base, "sue")
        supervisor.click("#board-button")
        expect(supervisor.locator("#queue-board")).to_be_visible()
        expect(supervisor.locator("#integrations")).to_be_hidden()
        browser.close()
