"""Who may do what with cases, through the API a browser uses: a department user reaches their
department's cases and nothing else (no other department's case, no interaction, no inbox), and
cannot open cases; agents open them from interactions they can see."""

from __future__ import annotations

import textwrap

import pytest

from cic_engine.config import CicConfig
from cic_engine.engine import Engine
from cic_engine.models import Channel, ContentPart, InboundContact
from tests.web.conftest import HASH

CASES = textwrap.dedent(f"""\
    [[agents]]
    login = "bill"
    name = "Bill Lee"
    roles = ["department"]
    department = "billing"
    password_hash = "{HASH}"
    [[agents]]
    login = "tom"
    name = "Tom Wu"
    roles = ["department"]
    department = "technical"
    password_hash = "{HASH}"
    [[cases.departments]]
    name = "billing"
    title = "Billing"
    [[cases.departments]]
    name = "technical"
    title = "Technical"
    [[cases.categories]]
    name = "billing_complaint"
    title = "Billing complaint"
    department = "billing"
    [[cases.categories]]
    name = "outage"
    title = "Outage"
    department = "technical"
    """)


def a_mail(store, n: int) -> int:
    """An email in the general queue, taken in as the email channel does; its interaction."""
    engine = Engine(store, CicConfig.model_validate({"queues": [{"name": "general"}, {"name": "chat"}]}))
    return engine.ingest(InboundContact(
        channel=Channel.email, endpoint="support@example.com", external_id=f"<c{n}@example.org>",
        sender="zhang.wei@example.org", subject="Bill and internet", parts=[ContentPart(body="Both broken")],
        metadata={"adapter": "support"})).interaction_id


@pytest.fixture
def cases_web(start_web, store):
    web = start_web(cic_extra=CASES)
    interaction_id = a_mail(store, 1)
    alice = web.api().login("alice")
    opened = {}
    for category in ("billing_complaint", "outage"):
        status, body = alice.call("POST", f"/api/interactions/{interaction_id}/cases",
                                  {"category": category, "description": f"{category} reported"})
        assert status == 201, body
        opened[category] = body["id"]
    return web, interaction_id, opened


def test_a_department_user_works_only_their_departments_cases(cases_web):
    web, interaction_id, opened = cases_web
    bill = web.api().login("bill")
    status, listing = bill.call("GET", "/api/cases")
    assert status == 200 and [c["id"] for c in listing] == [opened["billing_complaint"]]
    assert bill.call("GET", f"/api/cases/{opened['billing_complaint']}")[0] == 200
    outage = opened["outage"]
    for method, path, body in [("GET", f"/api/cases/{outage}", None),
                               ("POST", f"/api/cases/{outage}/status", {"status": "in_progress"}),
                               ("POST", f"/api/cases/{outage}/note", {"text": "peek"}),
                               ("POST", f"/api/cases/{outage}/ask", {"question": "peek?"}),
                               ("POST", f"/api/cases/{outage}/resolve", {"resolution": "peek"})]:
        status, answer = bill.call(method, path, body)
        assert (status, answer["error"]) == (404, "no such case"), (path, answer)
    tom = web.api().login("tom")
    assert tom.call("GET", f"/api/cases/{outage}")[1]["status"] == "new"  # untouched by bill


def test_a_department_user_reaches_no_interaction_and_no_inbox_and_opens_no_case(cases_web):
    web, interaction_id, _ = cases_web
    bill = web.api().login("bill")
    for path in (f"/api/interactions/{interaction_id}", "/api/work", "/api/board", "/api/search?q=zhang"):
        assert bill.call("GET", path)[0] == 403, path
    status, _ = bill.call("POST", f"/api/interactions/{interaction_id}/cases",
                          {"category": "billing_complaint", "description": "x"})
    assert status == 403
    assert bill.call("POST", f"/api/interactions/{interaction_id}/reply", {"text": "hi"})[0] == 403


def test_agents_open_cases_only_from_interactions_they_can_see_and_name_known_categories(cases_web):
    web, interaction_id, _ = cases_web
    bob = web.api().login("bob")  # billing queue only: the mail waits in general
    status, body = bob.call("POST", f"/api/interactions/{interaction_id}/cases",
                            {"category": "billing_complaint", "description": "x"})
    assert status == 404
    alice = web.api().login("alice")
    status, body = alice.call("POST", f"/api/interactions/{interaction_id}/cases",
                              {"category": "refund", "description": "x"})
    assert status == 400 and body["error"].startswith("no case category 'refund'")
    status, body = alice.call("POST", f"/api/interactions/{interaction_id}/cases",
                              {"category": "outage", "severity": "apocalyptic", "description": "x"})
    assert status == 400 and "severity must be one of" in body["error"]
    status, pop = alice.call("GET", f"/api/interactions/{interaction_id}")
    assert [c["category"] for c in pop["cases"]] == ["billing_complaint", "outage"]


def test_nobody_logged_out_reaches_a_case(cases_web):
    web, _, opened = cases_web
    assert web.api().call("GET", f"/api/cases/{opened['outage']}")[0] == 401
    assert web.api().call("GET", "/api/cases")[0] == 401


def test_supervisors_hear_live_of_a_case_breaching_its_sla_and_its_escalation(start_web, store):
    from tests.web.wsclient import WsClient

    fast = CASES.replace('title = "Billing complaint"\ndepartment = "billing"\n',
                         'title = "Billing complaint"\ndepartment = "billing"\nsla_h = 0.0005\n') \
        .replace('[[cases.departments]]\nname = "billing"\ntitle = "Billing"\n',
                 '[[cases.departments]]\nname = "billing"\ntitle = "Billing"\nescalate_to = "bill"\n')
    web = start_web(cic_extra="[cases]\nsla_check_s = 0.2\n" + fast)
    sue = web.api().login("sue")
    ws = WsClient(web.ws_base + "/api/live", origin=web.base, cookie=sue.cookie)
    interaction_id = a_mail(store, 2)
    alice = web.api().login("alice")
    status, body = alice.call("POST", f"/api/interactions/{interaction_id}/cases",
                              {"category": "billing_complaint", "description": "Wrong bill"})
    assert status == 201
    seen = []
    while "interaction.case_escalated" not in seen:
        event = ws.receive(timeout=15)
        assert event is not None, f"no escalation heard; heard {seen}"
        if event.get("type") == "event" and event["event"].startswith("interaction.case_"):
            seen.append(event["event"])
            assert event["data"]["case_id"] == body["id"]
    assert seen.index("interaction.case_sla_warning") < seen.index("interaction.case_sla_breach") \
        < seen.index("interaction.case_escalated")
    ws.close()
    case = web.api().login("bill").call("GET", f"/api/cases/{body['id']}")[1]
    assert case["owner"] == "bill" and case["sla"] == "breached"
    status, report = sue.call("GET", "/api/reports/cases?days=7")
    assert status == 200 and [(d["department"], d["open"], d["breached"]) for d in report["open_by_department"]] == [
        ("billing", 1, 1)]
    assert [b["id"] for b in report["sla_breaches"]] == [body["id"]]
    assert alice.call("GET", "/api/reports/cases")[0] == 403  # supervisors only


def test_the_supervisor_board_shows_cases_at_risk_in_the_browser(start_web, store):

    from playwright.sync_api import expect, sync_playwright

    from tests.web.browser import launch, screenshot
    from tests.web.test_browser import log_in

    fast = CASES.replace('title = "Billing complaint"\ndepartment = "billing"\n',
                         'title = "Billing complaint"\ndepartment = "billing"\nsla_h = 0.001\n')
    web = start_web(cic_extra="[cases]\nsla_check_s = 0.2\n" + fast)
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_context().new_page()
        log_in(page, web.base, "sue")
        expect(page.locator("#live")).to_have_text("live")
        web.api().login("alice").call("POST", f"/api/interactions/{a_mail(store, 3)}/cases",
                                      {"category": "billing_complaint", "description": "Wrong bill"})
        expect(page.locator('#case-alerts li[data-kind="interaction.case_sla_breach"]')).to_have_count(1, timeout=15000)
        page.click("#board-button")
        expect(page.locator("#case-board tbody tr td").first).to_have_text("billing")
        expect(page.locator("#case-board tbody tr td").nth(6)).to_have_text("1")
        screenshot(page, "board-cases")
        browser.close()
