"""The staff pages in the agent's language: every word of the inbox, board and department page
has its Chinese, the agent picks the language, and dates follow it. Screenshots of both
languages at desk and phone size are kept as test artifacts."""

from __future__ import annotations

import html.parser
import json
import re
import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.real_parts import needs_chromium
from tests.web.browser import launch, screenshot
from tests.web.conftest import PASSWORD
from tests.web.test_browser import log_in
from tests.web.test_chat_socket import start as start_chat

STATIC = Path(__file__).parents[2] / "cic_engine" / "web" / "static"
SIZES = {"1366": {"width": 1366, "height": 768}, "390": {"width": 390, "height": 844}}
UNTRANSLATED = {"#", "https://crm.example.com/hooks", "ASA", "AHT", "FCR", "Erlang C", "?", "a", "r", "j", "k", "e", "/", "Enter",
                *"0123456789*"}  # the phone's keypad


def chinese() -> dict[str, str]:
    """The page's dictionary, read by Node from i18n.js itself."""
    script = f"{(STATIC / 'i18n.js').read_text()}\nprocess.stdout.write(JSON.stringify(CIC_ZH));"
    return json.loads(subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True).stdout)


class _Words(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.words: set[str] = set()
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        self._skip += tag in ("script", "style", "title")
        self.words |= {v for k, v in attrs if k in ("placeholder", "aria-label", "title") and v}

    def handle_endtag(self, tag):
        self._skip -= tag in ("script", "style", "title")

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.words.add(" ".join(data.split()))


def test_every_word_of_the_staff_pages_has_its_chinese():
    zh = chinese()
    missing = set()
    for page in ("inbox.html", "department.html"):
        parser = _Words()
        parser.feed((STATIC / page).read_text())
        missing |= {w for w in parser.words if w not in zh and w not in UNTRANSLATED}
    for script in ("inbox.js", "department.js", "campaigns.js", "integrations.js", "i18n.js"):
        said = re.findall(r'\bt\("((?:[^"\\]|\\.)*)"', (STATIC / script).read_text())
        missing |= {w for w in said if w not in zh}
    for table in ("STATES", "WORK_STATES"):
        found = re.search(rf"const {table} = (\{{.*?\}});", (STATIC / "inbox.js").read_text())
        missing |= {w for w in re.findall(r': "([^"]+)"', found.group(1)) if w not in zh}
    assert missing == set()


@needs_chromium
@pytest.mark.parametrize("size", ["1366", "390"])
def test_an_agent_works_the_inbox_and_board_in_chinese_or_english(web, size):
    ws, _ = start_chat(web, name="王芳")
    ws.send({"type": "message", "id": "invoice-question", "text": "请问我的发票什么时候开？"})
    ws.receive_until("ack")
    with sync_playwright() as p:
        browser = launch(p)
        for language in ("zh-CN", "en"):
            context = browser.new_context(locale="en-US", viewport=SIZES[size])
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
            page.goto(web.base + "/")
            if language == "zh-CN":
                page.select_option("#login .lang-select", "zh-CN")  # the agent's pick, kept in the browser
                expect(page.locator("#login h1")).to_have_text("坐席工作台")
                expect(page.locator("#login-form button")).to_have_text("登录")
            log_in(page, web.base, "sue")
            page.select_option("#state-select", "available")
            words = {"zh-CN": ("接受", "待接受", "处理中", "结束", "回复客户", "队列"),
                     "en": ("Accept", "Offers", "Active", "End", "Reply to the customer", "Queues")}[language]
            offer = page.locator("#offers .item")
            expect(offer.locator("button.accept")).to_have_text(words[0])
            expect(page.locator("nav > h2").first).to_have_text(words[1])
            offer.locator("button.accept").click()
            expect(page.locator("#detail-meta")).to_contain_text(words[2])
            expect(page.locator("#end-button")).to_have_text(words[3])
            expect(page.locator("#reply-text")).to_have_attribute("placeholder", words[4])
            expect(page.locator("#messages .message .text")).to_have_text(
                ["请问我的发票什么时候开？" if language == "zh-CN" else "还在吗？"])
            if language == "zh-CN":
                # Dates in the agent's language's way (2026/12/5 ...), not the browser's English.
                expect(page.locator("#messages .message .meta").first).to_contain_text(re.compile(r"\d{4}/\d{1,2}/\d{1,2}"))
            screenshot(page, f"inbox-{language}-{size}")
            page.click("#board-button")
            expect(page.locator("#board h2").first).to_contain_text(words[5])
            expect(page.locator("#queue-board tbody tr")).not_to_have_count(0)
            if size == "390":
                # The page is no wider than the phone: the tables scroll in their own boxes.
                assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1
            screenshot(page, f"board-{language}-{size}")
            page.click("#board-button")
            page.click("#end-button")
            page.click("#wrap-button")
            expect(page.locator("#mine .item")).to_have_count(0)
            assert errors == []
            # The next round (English) gets the chat offered again.
            if language == "zh-CN":
                ws.send({"type": "message", "id": "invoice-question-2", "text": "还在吗？"})
                ws.receive_until("ack")
            context.close()
        browser.close()


@needs_chromium
def test_a_department_user_works_cases_in_chinese(start_web):
    from tests.web.test_access import ROLES_TOML

    web = start_web(cic_extra=ROLES_TOML)
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_context(viewport=SIZES["1366"]).new_page()
        page.goto(web.base + "/department")
        page.select_option("#login .lang-select", "zh-CN")
        expect(page.locator("#login h1")).to_have_text("部门工单")
        page.fill("input[name=login]", "bill")
        page.fill("input[name=password]", PASSWORD)
        page.click("#login-form button")
        expect(page.locator("#me-name")).to_have_text("Bill Lee")
        expect(page.locator("#cases-page nav h2")).to_have_text("工单")
        expect(page.locator("#logout-button")).to_have_text("退出")
        expect(page.locator("label.meta")).to_contain_text("包括已关闭")
        screenshot(page, "department-zh-CN-1366")
        browser.close()
