"""A fax in the agent's inbox, in Debian's Chromium: the received pages are viewed in place and
a PDF attached in the browser goes out as a fax."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect, sync_playwright

from cic_engine.fax import document
from tests.fakeswitch import fax as simfax
from tests.fax.conftest import CUSTOMER, LINE
from tests.fax.test_fax_channel import fax_interaction, timeline
from tests.real_parts import needs_chromium
from tests.voice.conftest import wait_for
from tests.web.browser import launch, screenshot
from tests.web.test_browser import accept_the_offer

pytestmark = [pytest.mark.timeout(180),
              needs_chromium]


def test_an_agent_views_a_received_fax_and_faxes_a_pdf_back_from_the_inbox(fax_engine, switch, spool, store,
                                                                          tmp_path):
    web = fax_engine()
    leg = simfax.receive(switch, CUSTOMER, LINE, str(spool), simfax.fax_pages(2), station="+86 21 5555 0100")
    interaction_id = wait_for(lambda: fax_interaction(store, leg.uuid), what="the fax ingested")["id"]
    invoice = tmp_path / "invoice.pdf"
    invoice.write_bytes(document.tiff_to_pdf(simfax.fax_pages(1, label="invoice")))
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_context().new_page()
        accept_the_offer(page, web.base)
        expect(page.locator("#detail-title")).to_have_text(f"Fax from {CUSTOMER} (2 pages)")
        expect(page.locator("#messages")).to_contain_text("2 pages received")
        with page.expect_response(lambda r: "view=inline" in r.url) as shown:
            page.click("button.view-fax")
        assert shown.value.status == 200 and shown.value.headers["content-type"] == "application/pdf"
        expect(page.locator("iframe.fax-pdf")).to_be_visible()
        screenshot(page, "inbox-fax")
        page.fill("#reply-text", "Please find the corrected invoice.")
        page.set_input_files("#reply-files", str(invoice))
        # The page has sent the reply (and the engine taken it) before the browser goes.
        with page.expect_response(lambda r: r.url.endswith("/reply")) as replied:
            page.click("#reply-form button[type=submit]")
        assert replied.value.status == 202
        expect(page.locator("#detail-error")).to_have_text("")
        browser.close()
    sent = wait_for(lambda: timeline(store, interaction_id, "message_sent"), what="the fax sent")[0]
    assert sent["pages_sent"] == 2 and sent["result"] == "OK"  # the cover page and the invoice
    assert switch.sent_faxes[-1]["number"] == CUSTOMER
