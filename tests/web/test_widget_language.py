"""The chat widget as a customer sees it, in their language: Chinese or English from the
browser, the channel file's own words per language, notices that say what happened once, Enter
to send, pictures they send shown to them, and a way to start again after the agent ends."""

from __future__ import annotations

import base64
import re
import tomllib
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from cic_engine.adapters.webchat import WIDGET_TEXTS, WebChatConfig
from tests.real_parts import needs_chromium
from tests.web.browser import launch, screenshot
from tests.web.test_browser import log_in

pytestmark = needs_chromium
WIDGET = Path(__file__).parents[2] / "cic_engine" / "web" / "static" / "widget.js"
PNG = base64.b64decode(  # a 1x1 red picture
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==")
ZH = 'texts."zh-CN" = { title = "示例在线客服", greeting = "您好，测试" }\n'
SIZES = {"desktop": {"width": 1366, "height": 768}, "phone": {"width": 390, "height": 844}}


def _table(language: str) -> set[str]:
    block = re.search(rf'^    {re.escape(language)}: \{{\n(.*?)^    }},', WIDGET.read_text(), re.S | re.M)
    assert block, language
    return set(re.findall(r'(\w+): "', block.group(1)))


def test_the_widget_knows_every_text_a_channel_file_may_set_in_both_languages():
    assert _table("en") == set(WIDGET_TEXTS)
    assert _table('"zh-CN"') == set(WIDGET_TEXTS)


def test_a_channel_file_naming_an_unknown_text_or_language_is_refused_with_the_key():
    with pytest.raises(ValueError, match=r"texts.zh-CN: no widget text named titel"):
        WebChatConfig.model_validate({"texts": {"zh-CN": {"titel": "客服"}}})
    with pytest.raises(ValueError, match=r"texts.fr: the widget speaks en, zh-CN"):
        WebChatConfig.model_validate({"texts": {"fr": {"title": "Bonjour"}}})
    shipped = tomllib.loads((Path(__file__).parents[2] / "channels" / "webchat.toml").read_text())
    assert WebChatConfig.model_validate({k: v for k, v in shipped.items() if k != "kind"}).texts["zh-CN"]["title"]


def _customer(browser, web, locale: str, size: str):
    page = browser.new_context(locale=locale, viewport=SIZES[size]).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(web.base + "/demo")
    return page, errors


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_a_chinese_customer_chats_in_chinese_and_an_english_one_in_english(start_web, size, tmp_path):
    web = start_web(chat_extra=ZH)
    with sync_playwright() as p:
        browser = launch(p)
        agent = browser.new_context().new_page()
        log_in(agent, web.base, "alice")
        agent.select_option("#state-select", "available")

        zh, zh_errors = _customer(browser, web, "zh-CN", size)
        zh.click("text=示例在线客服")  # the channel file's Chinese title
        expect(zh.locator(".prechat:not(.offline) input[name=name]")).to_have_attribute("placeholder", "您的姓名")
        zh.fill(".prechat:not(.offline) input[name=name]", "李雷")
        zh.click("text=开始对话")
        expect(zh.locator(".notice").first).to_have_text("您好，测试")
        composer = zh.locator(".composer textarea")
        expect(composer).to_have_attribute("placeholder", "请输入消息")
        # Enter sends; Shift+Enter is a new line within the message.
        composer.fill("我的发票")
        composer.press("Shift+Enter")
        composer.type("订单 1234")
        composer.press("Enter")
        expect(zh.locator(".message.inbound .text")).to_have_text(["我的发票\n订单 1234"])
        expect(zh.locator(".message.inbound")).to_have_attribute("data-state", "delivered")
        expect(zh.locator(".message.inbound .author")).to_have_text(["我"])
        # A picture they send is shown to them, not as "[file: ...]".
        picture = tmp_path / "receipt.png"
        picture.write_bytes(PNG)
        zh.locator("input.picker").set_input_files(str(picture))
        expect(zh.locator(".message.inbound").last.locator("img.preview")).to_be_visible()
        expect(zh.locator(".message.inbound").last).to_have_attribute("data-state", "delivered")

        en, en_errors = _customer(browser, web, "en-GB", size)
        en.click("text=Chat with Example")
        en.fill(".prechat:not(.offline) input[name=name]", "Jane")
        en.click("text=Start chat")
        expect(en.locator(".notice").first).to_have_text("Hello from the test")
        en.locator(".composer textarea").fill("Where is my parcel?")
        en.locator(".composer textarea").press("Enter")
        expect(en.locator(".message.inbound")).to_have_attribute("data-state", "delivered")

        # The agent takes the Chinese chat: the customer is told in Chinese.
        agent.locator("#offers .item", has_text="李雷").locator("button.accept").click()
        expect(zh.locator(".notice").last).to_have_text("Alice Chen 已加入对话。")
        # The agent sees the picture itself, and can download it.
        expect(agent.locator("#messages .message .attachment")).to_have_count(1)
        picture_shown = agent.locator("#messages .message img.preview")
        expect(picture_shown).to_have_attribute("alt", "receipt.png")
        expect(picture_shown).to_have_attribute("src", re.compile(r"^blob:"))  # fetched, then drawn
        assert picture_shown.evaluate("img => img.decode().then(() => img.naturalWidth)") == 1
        screenshot(zh, f"widget-zh-{size}")
        screenshot(en, f"widget-en-{size}")

        # The agent ends it: told once, with a way to start again; writing instead continues it.
        agent.click("#end-button")
        ended = "客服已结束本次对话。您可以在此继续留言，或开始新的对话。"
        expect(zh.locator(".notice").last).to_have_text(ended)
        expect(zh.locator(".new-chat")).to_have_text("开始新的对话")
        zh.locator(".composer textarea").fill("还有一个问题")
        zh.locator(".composer textarea").press("Enter")
        expect(agent.locator("#detail-meta")).to_contain_text("Active")  # back from wrap-up, not closed unanswered
        expect(zh.locator(".new-chat")).to_be_visible()
        screenshot(zh, f"widget-zh-ended-{size}")
        browser.close()
        assert zh_errors == [] and en_errors == []
