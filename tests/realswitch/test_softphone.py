"""The agent's browser registers with the real FreeSWITCH over SIP-over-WebSocket (JsSIP in
Debian's Chromium), with the short-lived credential the engine issued: the switch asks the
engine for the user (mod_xml_curl) and checks the digest. A wrong password, or a credential of
an agent who logged out, is refused by the switch."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect, sync_playwright

from tests import real_parts
from tests.core.test_run import free_port
from tests.real_parts import needs_chromium
from tests.realswitch.freeswitch import RealSwitch, unavailable_reason
from tests.web.browser import launch
from tests.web.conftest import start_web  # noqa: F401 - the start_web fixture, used below
from tests.web.test_browser import log_in

SECRET = "softphone-directory-secret"
pytestmark = [needs_chromium,
              pytest.mark.timeout(180)]

ISSUE = """async () => (await fetch("/api/me/sip", { method: "POST", headers: { "Content-Type": "application/json" },
                                                 body: "{}" })).json()"""
REGISTER = """async (sip) => {
  const ua = new JsSIP.UA({ sockets: [new JsSIP.WebSocketInterface(sip.ws_url)], uri: `sip:${sip.username}@${sip.domain}`,
                            password: sip.password, register: true, session_timers: false });
  const outcome = await new Promise((resolve) => {
    ua.on("registered", () => resolve("registered"));
    ua.on("registrationFailed", (e) => resolve(`failed: ${e.cause}`));
    ua.start();
    setTimeout(() => resolve("no answer"), 15000);
  });
  ua.stop();
  return outcome;
}"""


@pytest.fixture
def softphone_switch(tmp_path, start_web, monkeypatch):  # noqa: F811 - the imported fixture
    """An engine with [softphone], and a switch of this test's own whose WebSocket SIP profile
    asks that engine for its users."""
    reason = unavailable_reason()
    if reason:
        real_parts.missing(reason)
    ws_port = free_port()
    monkeypatch.setenv("CIC_SWITCH_DIRECTORY_SECRET", SECRET)
    web = start_web(cic_extra=f'[softphone]\nws_url = "ws://127.0.0.1:{ws_port}"\ndomain = "127.0.0.1"\n')
    switch = RealSwitch(tmp_path / "switch").configure()
    switch.serve_browsers(f"{web.base}/freeswitch/directory", SECRET, ws_port)
    switch.start()
    yield web, switch
    switch.stop()


def registered(switch: RealSwitch) -> str:
    return switch.api("sofia status profile internal reg")


def test_an_agents_browser_registers_with_the_switch_using_the_engines_credential(softphone_switch):
    web, switch = softphone_switch
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_context().new_page()
        log_in(page, web.base, "alice")
        page.add_script_tag(url=web.base + "/static/jssip-3.13.8.min.js")  # the pages' policy lets it reach the switch
        sip = page.evaluate(ISSUE)
        assert page.evaluate(REGISTER, sip) == "registered", switch.log_tail()
        assert sip["username"] in registered(switch)
        # Another password for that user: the switch, checking the engine's hash, says no.
        assert page.evaluate(REGISTER, {**sip, "password": "not-the-password"}).startswith("failed")
        # Logged out: the engine voids the agent's credentials at once.
        page.click("#logout")
        expect(page.locator("#login")).to_be_visible()
        assert page.evaluate(REGISTER, sip).startswith("failed")
        browser.close()
