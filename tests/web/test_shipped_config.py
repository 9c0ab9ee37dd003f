"""The engine as the README's quick start runs it: the shipped cic.toml and channels/, in a
real browser (only the database and the port differ, so tests can run side by side)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.core.test_run import free_port, print_engine_log, start, stop
from tests.real_parts import needs_chromium
from tests.web.browser import launch, screenshot

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [needs_chromium,
              pytest.mark.timeout(180)]


@pytest.fixture
def shipped(tmp_path, db_url):
    port = free_port()
    text = (ROOT / "cic.toml").read_text()
    assert 'bind = "127.0.0.1:8080"' in text and 'url = ""' in text
    (tmp_path / "cic.toml").write_text(text.replace('bind = "127.0.0.1:8080"', f'bind = "127.0.0.1:{port}"')
                                       .replace('url = ""', f'url = "{db_url}"', 1))
    shutil.copytree(ROOT / "channels", tmp_path / "channels")
    proc = start(tmp_path / "cic.toml", log=tmp_path / "engine.log")
    yield f"http://127.0.0.1:{port}"
    if proc.poll() is None:
        assert stop(proc) == 0
    print_engine_log(tmp_path)


def test_the_board_works_on_the_shipped_configuration(shipped):
    """Its vip queue names no service level: the default target (an int) once made the board's
    query fail with a 500, and every section stayed empty."""
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_context(viewport={"width": 1366, "height": 768}).new_page()
        page.goto(shipped + "/")
        page.fill("input[name=login]", "bob")
        page.fill("input[name=password]", "cic-demo")
        page.click("#login-form button")
        page.click("#board-button")
        general = page.locator('#queue-board tr[data-queue="general"][data-channel="chat"] td')
        expect(general.nth(2)).to_have_text("0")
        expect(general.nth(8)).to_contain_text("Offline: 2")
        expect(page.locator("#board-error")).to_have_text("")
        expect(page.locator('#agent-board tr[data-login="alice"]')).to_have_count(1)
        screenshot(page, "shipped-board-1366")
        browser.close()
