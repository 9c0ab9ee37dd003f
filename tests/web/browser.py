"""Debian's Chromium, headless, driven by Playwright (no browser download: the registry's
Playwright package talks to /usr/bin/chromium)."""

from __future__ import annotations

import os
from pathlib import Path

CHROMIUM = os.environ.get("CIC_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("CIC_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"))
# Without these, Chromium keeps trying to reach Google's services, which this network refuses.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def customer_chats(browser, base: str, name: str, text: str):
    """A customer opens the demo page's widget, starts a chat and sends one message, which the
    engine acknowledges; the customer's page."""
    from playwright.sync_api import expect

    customer = browser.new_context().new_page()
    customer.goto(base + "/demo")
    customer.click("text=Chat with Example")
    customer.fill("input[name=name]", name)
    customer.click("text=Start chat")
    customer.fill(".composer textarea", text)
    customer.click(".composer button.send")
    expect(customer.locator(".message.inbound")).to_have_attribute("data-state", "delivered")
    return customer
