"""A complaint end to end, on one real `cic-engine run` with every part real but the switch:
a call (simulator) -> the agent opens a case to billing -> a billing user, in Chromium, asks
the customer a question (by SMS, their preferred channel, through a real SMPP server) -> the
customer answers by email (Dovecot) -> billing resolves (the customer is told by SMS) -> the
customer replies unhappy by SMS -> the case reopens and shows in the next agent's screen pop."""

from __future__ import annotations

import textwrap
from email.message import EmailMessage

import pytest
from playwright.sync_api import expect, sync_playwright

from cic_engine.sms import alphabet, segments
from tests.channel_files import MAILBOX, OUR_SMS, email_toml, sms_toml, voice_toml
from tests.core.test_run import engine_toml, free_port, print_engine_log, start, stop
from tests.fakeswitch.switch import FakeSwitch
from tests.mailservers.dovecot import Dovecot
from tests.mailservers.smtp import SmtpServer
from tests.real_parts import needs_chromium
from tests.smsc import TestSmsc
from tests.voice.conftest import wait_for
from tests.web.browser import launch, screenshot
from tests.web.conftest import HASH, PASSWORD, Api

pytestmark = [pytest.mark.timeout(240),
              needs_chromium]
CALLER = "+8613800138000"
EMAIL = "zhang.wei@example.org"


@pytest.fixture
def parts():
    switch, dovecot, smtp, smsc = FakeSwitch().start(), Dovecot().start(), SmtpServer().start(), TestSmsc().start()
    switch.ring_s = 0.02
    yield switch, dovecot, smtp, smsc
    smsc.stop()
    smtp.stop()
    dovecot.remove()
    switch.stop()


def engine_config(tmp_path, db_url, web_port, switch, dovecot, smtp, smsc) -> None:
    (tmp_path / "channels").mkdir()
    (tmp_path / "cic.toml").write_text(engine_toml("case-node", db_url, web_port) + textwrap.dedent(f"""\
        [outbox]
        backoff_s = 0.3
        [routing]
        offer_timeout_s = 120
        [[queues]]
        name = "general"
        [[agents]]
        login = "alice"
        name = "Alice Chen"
        queues = ["general"]
        password_hash = "{HASH}"
        [[agents]]
        login = "bob"
        name = "Bob Smith"
        queues = ["general"]
        password_hash = "{HASH}"
        [[agents]]
        login = "bill"
        name = "Bill Lee"
        roles = ["department"]
        department = "billing"
        password_hash = "{HASH}"
        [[cases.departments]]
        name = "billing"
        title = "Billing"
        [[cases.categories]]
        name = "billing_complaint"
        title = "Billing complaint"
        department = "billing"
        sla_h = 48
        """))
    channels = tmp_path / "channels"
    (channels / "pbx.toml").write_text(voice_toml(free_port(), switch.port))
    (channels / "support.toml").write_text(email_toml(dovecot.port, smtp.port))
    (channels / "sms.toml").write_text(sms_toml(smsc.port))


def texts_at_the_smsc(smsc) -> list[str]:
    out = []
    for s in smsc.submits():
        body = bytes.fromhex(s["body_hex"])
        if s["esm_class"] & 0x40:
            body = segments.read_part(body, s["esm_class"])[1]
        out.append(alphabet.decode(s["data_coding"], body)[0])
    return out


def an_email(body: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Zhang Wei <{EMAIL}>"
    msg["To"] = MAILBOX
    msg["Subject"] = "Re: your question"
    msg["Message-ID"] = "<answer-1@example.org>"
    msg.set_content(body)
    return msg.as_bytes()


def the_case(api: Api, case_id: int) -> dict:
    status, case = api.call("GET", f"/api/cases/{case_id}")
    assert status == 200, case
    return case


def test_a_complaint_goes_from_a_call_to_billing_and_back_and_reopens_when_the_customer_is_unhappy(
        parts, tmp_path, db_url):
    switch, dovecot, smtp, smsc = parts
    web_port = free_port()
    engine_config(tmp_path, db_url, web_port, switch, dovecot, smtp, smsc)
    proc = start(tmp_path / "cic.toml", log=tmp_path / "engine.log")
    base = f"http://127.0.0.1:{web_port}"
    try:
        wait_for(lambda: smsc.ask(cmd="bound")["sessions"] == ["cic"], what="the SMS adapter bound")
        wait_for(lambda: any(s.authed and s.format for s in switch.sessions), what="the voice adapter subscribed")

        # 1. The complaint call reaches Alice.
        alice = Api(base).login("alice")
        alice.call("POST", "/api/me/state", {"state": "available"})
        voice_port = int((tmp_path / "channels" / "pbx.toml").read_text().split('127.0.0.1:')[1].split('"')[0])
        call = switch.call(("127.0.0.1", voice_port), CALLER, caller_name="Zhang Wei")
        wait_for(lambda: call.bridged_to == "alice", what="the call bridged to alice")
        work = wait_for(lambda: alice.call("GET", "/api/work")[1]["mine"], what="the call is alice's")
        call_id = work[0]["id"]
        status, view = alice.call("GET", f"/api/interactions/{call_id}")
        customer_id = view["customer"]["id"]

        # 2. Alice takes the caller's email and preference, and opens the case to billing.
        assert alice.call("POST", f"/api/customers/{customer_id}/identities",
                          {"kind": "email", "value": EMAIL})[0] == 201
        assert alice.call("POST", f"/api/customers/{customer_id}/preferred-channel", {"channel": "sms"})[0] == 200
        status, opened = alice.call("POST", f"/api/interactions/{call_id}/cases", {
            "category": "billing_complaint", "severity": "high",
            "description": "Charged twice for the March invoice"})
        assert status == 201, opened
        case_id = opened["id"]
        wait_for(lambda: any(f"case #{case_id}" in t for t in texts_at_the_smsc(smsc)), what="the opening notice")
        call.agent_hangs_up()
        call.wait()
        alice.call("POST", f"/api/interactions/{call_id}/wrap-up", {})
        alice.call("POST", "/api/me/state", {"state": "away", "reason": "break"})

        # 3. Bill, in the browser, asks the customer a question.
        with sync_playwright() as p:
            browser = launch(p)
            page = browser.new_context().new_page()
            page.goto(base + "/department")
            page.fill("input[name=login]", "bill")
            page.fill("input[name=password]", PASSWORD)
            page.click("#login-form button")
            expect(page.locator("#me-name")).to_have_text("Bill Lee")
            page.locator(f"#case-list li[data-id='{case_id}']").click()
            expect(page.locator("#case-description")).to_have_text("Charged twice for the March invoice")
            page.fill("#ask-text", "Which card was charged twice?")
            page.click("#ask-form button")
            expect(page.locator("#case-meta")).to_contain_text("waiting for customer")
            screenshot(page, "department-case")
            browser.close()
        wait_for(lambda: any("Which card was charged twice?" in t for t in texts_at_the_smsc(smsc)),
                 what="the question sent by SMS")
        bill = Api(base).login("bill")
        assert the_case(bill, case_id)["sla"] == "paused"

        # 4. The customer answers by email; the case is worked again.
        dovecot.deliver(an_email("It was the Visa ending 4242."))
        wait_for(lambda: the_case(bill, case_id)["status"] == "in_progress", what="the answer in the case")
        case = the_case(bill, case_id)
        assert any(m["channel"] == "email" and "Visa ending 4242" in m["text"] for m in case["messages"])

        # 5. Billing resolves; the customer is told by SMS.
        assert bill.call("POST", f"/api/cases/{case_id}/resolve",
                         {"resolution": "We refunded the second charge."})[0] == 200
        wait_for(lambda: any("We refunded the second charge." in t for t in texts_at_the_smsc(smsc)),
                 what="the resolution by SMS")

        # 6. The customer is not happy; the case reopens.
        assert smsc.deliver(CALLER.lstrip("+"), OUR_SMS, b"The refund never arrived!") == 0
        wait_for(lambda: the_case(bill, case_id)["reopened"] == 1, what="the case reopened")
        assert the_case(bill, case_id)["status"] == "in_progress"

        # 7. The next agent's screen pop shows it.
        bob = Api(base).login("bob")
        bob.call("POST", "/api/me/state", {"state": "available"})
        offers = wait_for(lambda: [o for o in bob.call("GET", "/api/work")[1]["offers"] if o["channel"] == "sms"],
                          what="the customer's SMS offered to bob")
        status, pop = bob.call("GET", f"/api/interactions/{offers[0]['id']}")
        assert status == 200
        assert [(c["id"], c["status"], c["reopened"]) for c in pop["cases"]] == [(case_id, "in_progress", 1)]

        # Bill never reaches the interactions themselves, only his case.
        assert bill.call("GET", f"/api/interactions/{call_id}")[0] == 403
        kinds = [e["kind"] for e in the_case(bill, case_id)["events"]]
        for kind in ("case_opened", "case_question", "case_customer_message", "case_status", "case_reopened"):
            assert kind in kinds, kinds
    finally:
        assert stop(proc) == 0
        print_engine_log(tmp_path)
