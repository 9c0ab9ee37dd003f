"""Campaigns in a real browser (Debian's Chromium): a supervisor creates a campaign on the board
(a mistake is refused with its reason), imports a list and reads its row report, starts the campaign, puts a number on the do-not-contact list; an agent
accepts a preview, reads its script and the list's row, and dials it (the ESL simulator rings
her phone, then the customer's).

The browser runs in a thread of its own: the simulator serves calls on this test's gevent hub,
which must keep running while the page waits on the engine."""

from __future__ import annotations

import gevent
import pytest
from playwright.sync_api import expect, sync_playwright

from tests.outbound.conftest import rows, wait_rows
from tests.voice.conftest import wait_for
from tests.web.browser import launch, screenshot
from tests.web.conftest import PASSWORD

pytestmark = pytest.mark.timeout(240)

LIST = "phone,name,plan\n13800138001,Zhang Wei,fibre 500\n12345,Bad Number,copper\n13800138002,Li Na,copper\n"


def log_in(page, base: str, login: str) -> None:
    page.goto(base + "/")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button")
    expect(page.locator("#me-name")).not_to_be_empty()


def test_a_supervisor_runs_a_preview_campaign_and_an_agent_dials_from_the_record(voice_engine, switch, store,
                                                                                   tmp_path):
    engine = voice_engine()
    switch.talk_s = 1.0
    csv = tmp_path / "fibre.csv"
    csv.write_text(LIST)

    def in_the_browser() -> dict:
        seen = {}
        with sync_playwright() as p:
            browser = launch(p)
            board = browser.new_context().new_page()
            log_in(board, engine.base, "sue")
            board.click("#board-button")
            board.click("#campaign-new summary")
            form = board.locator("#campaign-form")
            form.locator("[name=name]").fill("fibre-upgrade")
            form.locator("[name=title]").fill("Fibre upgrade")
            form.locator("[name=mode]").select_option("preview")
            form.locator("[name=start]").fill("00:00")
            form.locator("[name=end]").fill("00:00")
            form.locator("[name=days][value=sun]").check()  # every day, so that the test runs on any day
            form.locator("[name=script]").fill("Ask about the current speed <b>first</b>; offer fibre 1000.")
            screenshot(board, "campaign-new")
            form.locator("button").click()  # no queue: refused, with the reason
            expect(board.locator("#campaign-error")).to_contain_text("a voice campaign needs a queue")
            form.locator("[name=queue]").fill("sales")
            form.locator("button").click()
            expect(board.locator("#campaign-ok")).to_contain_text("campaign created (paused)")
            row = board.locator("#campaign-board tr[data-campaign='fibre-upgrade']")
            expect(row).to_contain_text("paused")
            expect(row).to_contain_text("voice (preview)")
            board.set_input_files("#campaign-file", str(csv))
            board.click("#campaign-import button")
            expect(board.locator("#campaign-import-report")).to_contain_text("2 added")
            expect(board.locator("#campaign-import-report li.error")).to_contain_text("row 3:")
            board.fill("#dnc-address", "13800138002")
            board.fill("#dnc-reason", "asked by letter")
            board.click("#dnc-form button")
            expect(board.locator("#campaign-ok")).to_contain_text("+8613800138002 is on the do-not-contact list")
            row.locator("button").click()
            expect(row).to_contain_text("running")
            screenshot(board, "campaign-board")

            agent = browser.new_context().new_page()
            log_in(agent, engine.base, "alice")
            agent.select_option("#state-select", "available")
            offer = agent.locator("#offers li").first
            expect(offer).to_contain_text("Preview: call Zhang Wei (+8613800138001)")
            offer.locator("button.accept").click()
            record = agent.locator("#campaign-record")
            expect(record).to_be_visible()
            expect(agent.locator("#campaign-script")).to_have_text(
                "Ask about the current speed <b>first</b>; offer fibre 1000.")  # text, never markup
            expect(agent.locator("#campaign-fields")).to_contain_text("plan: fibre 500")
            expect(agent.locator("#campaign-title")).to_contain_text("Fibre upgrade · attempt 1")
            screenshot(agent, "campaign-preview")
            agent.click("#campaign-dial")
            expect(agent.locator("#campaign-dial-error")).to_be_empty()
            seen["dialled"] = True
            browser.close()
        return seen

    assert gevent.get_hub().threadpool.apply(in_the_browser) == {"dialled": True}
    # the dial is accepted at once; alice's leg reaches the engine's socket a moment later
    agent_leg = wait_for(lambda: next((c for c in switch.calls if c.destination == "alice"), None),
                         what="alice's phone dialled")
    agent_leg.wait(20)
    assert agent_leg.rang == ["+8613800138001"]
    wait_rows(store, "SELECT 1 FROM campaign_attempts WHERE outcome = 'connected'")
    # The other contact waits (Alice, the only agent, is busy); once she is free, the next
    # claim finds the number on the do-not-contact list, and no preview reaches her.
    assert rows(store, "SELECT state FROM campaign_contacts WHERE address = '+8613800138002'") == [("pending",)]
    alice = engine.api("alice")
    (interaction_id,) = wait_rows(store, "SELECT id FROM interactions WHERE state = 'wrap_up'")[0]
    assert alice.call("POST", f"/api/interactions/{interaction_id}/wrap-up", {"disposition": "sale"})[0] == 200
    wait_rows(store, "SELECT 1 FROM campaign_contacts WHERE state = 'refused'")
    assert rows(store, "SELECT address, state, last_reason FROM campaign_contacts ORDER BY id") == [
        ("+8613800138001", "done", None), ("+8613800138002", "refused", "on the do-not-contact list")]
    assert rows(store, "SELECT count(*) FROM interactions WHERE campaign_id IS NOT NULL") == [(1,)]
