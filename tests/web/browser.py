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
