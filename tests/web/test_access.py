"""Who may do what, as a table: every endpoint the running engine serves (read from its own
routing table, adapters' routes included) is called by every role, and what it answers is the
table's. A new endpoint that is not in the table fails here, so none can be added without a
rule. Then the same roles against resources of their own queues and of others'."""

from __future__ import annotations

import textwrap

import pytest

from cic_engine.config import CicConfig
from cic_engine.engine import Engine
from cic_engine.models import Attachment, Channel, ContentPart, IdentityKind, InboundContact
from tests.cases.test_case_permissions import CASES
from tests.web.conftest import HASH
from tests.web.wsclient import Refused, WsClient

AGENTS = {"agent", "supervisor", "admin"}
SUPERVISORS = {"supervisor", "admin"}
EVERYONE = {"anonymous", "agent", "supervisor", "admin", "department"}
PUBLIC = "public"  # anyone, logged in or not
# (method, rule) -> who gets past the access check: a set of roles, or PUBLIC, "signed"
# (a provider's webhook: its signature decides), "monitor" (loopback or the metrics token) or
# "token" (the integration API: an API token's scopes decide, never a login).
TABLE: dict[tuple[str, str], object] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/metrics"): "monitor",
    ("GET", "/"): PUBLIC, ("GET", "/demo"): PUBLIC, ("GET", "/department"): PUBLIC,
    ("GET", "/static/<name>"): PUBLIC,
    ("POST", "/api/login"): PUBLIC, ("POST", "/api/logout"): PUBLIC,
    ("GET", "/api/me"): AGENTS | {"department"},
    ("POST", "/api/me/state"): AGENTS,
    ("GET", "/api/work"): AGENTS,
    ("GET", "/api/interactions/<int:interaction_id>"): AGENTS,
    ("POST", "/api/interactions/<int:interaction_id>/accept"): AGENTS,
    ("POST", "/api/interactions/<int:interaction_id>/reject"): AGENTS,
    ("POST", "/api/interactions/<int:interaction_id>/reply"): AGENTS,
    ("POST", "/api/interactions/<int:interaction_id>/note"): AGENTS,
    ("POST", "/api/interactions/<int:interaction_id>/transfer"): AGENTS,
    ("POST", "/api/interactions/<int:interaction_id>/end"): AGENTS,
    ("POST", "/api/interactions/<int:interaction_id>/wrap-up"): AGENTS,
    ("GET", "/api/interactions/<int:interaction_id>/canned"): AGENTS,
    ("GET", "/api/attachments/<int:attachment_id>"): AGENTS,
    ("GET", "/api/search"): AGENTS,
    ("POST", "/api/customers/<int:customer_id>/identities"): AGENTS,
    ("POST", "/api/customers/<int:customer_id>/preferred-channel"): AGENTS,
    ("POST", "/api/interactions/<int:interaction_id>/call/<action>"): AGENTS,
    ("POST", "/api/interactions/<int:interaction_id>/supervise"): SUPERVISORS,
    ("POST", "/api/calls"): AGENTS,
    ("GET", "/api/board"): SUPERVISORS,
    ("POST", "/api/interactions/<int:interaction_id>/move"): SUPERVISORS,
    ("POST", "/api/interactions/<int:interaction_id>/assign"): SUPERVISORS,
    ("POST", "/api/agents/<login>/state"): SUPERVISORS,
    ("GET", "/api/reports/cases"): SUPERVISORS,
    ("GET", "/api/reports/kpi"): SUPERVISORS,
    ("POST", "/api/rejected/<int:rejected_id>/reingest"): SUPERVISORS,
    ("POST", "/api/rejected/<int:rejected_id>/dismiss"): SUPERVISORS,
    ("GET", "/api/ops"): SUPERVISORS,
    ("POST", "/api/ops/reload"): {"admin"},
    ("POST", "/api/interactions/<int:interaction_id>/cases"): AGENTS,
    ("GET", "/api/cases"): AGENTS | {"department"},
    ("GET", "/api/cases/<int:case_id>"): AGENTS | {"department"},
    ("POST", "/api/cases/<int:case_id>/status"): AGENTS | {"department"},
    ("POST", "/api/cases/<int:case_id>/note"): AGENTS | {"department"},
    ("POST", "/api/cases/<int:case_id>/ask"): AGENTS | {"department"},
    ("POST", "/api/cases/<int:case_id>/resolve"): AGENTS | {"department"},
    ("GET", "/api/case-categories"): AGENTS | {"department"},
    ("GET", "/api/campaigns"): SUPERVISORS,
    ("POST", "/api/campaigns"): SUPERVISORS,
    ("GET", "/api/campaigns/<int:campaign_id>"): SUPERVISORS,
    ("POST", "/api/campaigns/<int:campaign_id>/contacts"): SUPERVISORS,
    ("POST", "/api/campaigns/<int:campaign_id>/start"): SUPERVISORS,
    ("POST", "/api/campaigns/<int:campaign_id>/pause"): SUPERVISORS,
    ("GET", "/api/dnc"): SUPERVISORS,
    ("POST", "/api/dnc"): AGENTS,
    ("POST", "/api/dnc/remove"): SUPERVISORS,
    ("GET", "/api/interactions/<int:interaction_id>/campaign"): AGENTS,
    ("POST", "/api/interactions/<int:interaction_id>/campaign-dial"): AGENTS,
    ("GET", "/api/live"): AGENTS,
    ("GET", "/chat/webchat/socket"): PUBLIC,
    ("GET", "/chat/webchat/settings"): PUBLIC,
    ("GET", "/chat/webchat/files/<int:attachment_id>"): PUBLIC,  # the chat's token in a header is the key
    ("POST", "/sms/texts/inbound"): "signed",
    ("POST", "/api/me/sip"): AGENTS,
    ("POST", "/freeswitch/directory"): "signed",  # the switch's shared secret, checked in the handler
    ("GET", "/api/interactions/<int:interaction_id>/crm"): AGENTS,
    # What an admin does for the company's other systems.
    ("GET", "/api/admin/tokens"): {"admin"}, ("POST", "/api/admin/tokens"): {"admin"},
    ("POST", "/api/admin/tokens/<int:token_id>/revoke"): {"admin"},
    ("GET", "/api/admin/webhooks"): {"admin"}, ("POST", "/api/admin/webhooks"): {"admin"},
    ("POST", "/api/admin/webhooks/<int:subscription_id>/active"): {"admin"},
    ("GET", "/api/admin/webhooks/deliveries"): {"admin"},
    ("POST", "/api/admin/webhooks/deliveries/<int:delivery_id>/replay"): {"admin"},
    # The integration API: an API token's scope decides; no login of any role gets in.
    ("GET", "/api/v1/openapi.json"): PUBLIC, ("GET", "/api/v1/docs"): PUBLIC,
    ("GET", "/api/v1/customers"): "token",
    ("GET", "/api/v1/customers/<int:customer_id>"): "token",
    ("PATCH", "/api/v1/customers/<int:customer_id>"): "token",
    ("GET", "/api/v1/customers/<int:customer_id>/timeline"): "token",
    ("POST", "/api/v1/interactions"): "token",
    ("GET", "/api/v1/interactions/<int:interaction_id>"): "token",
    ("POST", "/api/v1/interactions/<int:interaction_id>/notes"): "token",
    ("POST", "/api/v1/cases"): "token",
    ("GET", "/api/v1/cases/<int:case_id>"): "token",
    ("POST", "/api/v1/cases/<int:case_id>/notes"): "token",
}
# What a URL's variables are filled with: ids that exist nowhere, so no call changes anything.
ARGS = {"<int:interaction_id>": "999999", "<int:case_id>": "999999", "<int:customer_id>": "999999",
        "<int:attachment_id>": "999999", "<int:campaign_id>": "999999", "<int:rejected_id>": "999999",
        "<int:token_id>": "999999", "<int:subscription_id>": "999999", "<int:delivery_id>": "999999",
        "<login>": "nobody", "<action>": "hold",
        "<name>": "inbox.js"}

ROLES_TOML = textwrap.dedent(f"""\
    [[agents]]
    login = "ada"
    name = "Ada Admin"
    roles = ["admin"]
    password_hash = "{HASH}"
    """) + CASES  # bill (billing) and tom (technical), department users, and their cases
SMS_HTTP = textwrap.dedent("""\
    kind = "sms"
    address = "+8610655500"
    transport = "http"
    [http]
    send_url = "https://sms.example.com/send?api_key=SENDKEY-123&account=ops"
    password_env = "CIC_TEST_SMS_SECRET"
    """)
LOGINS = {"agent": "alice", "supervisor": "sue", "admin": "ada", "department": "bill"}


@pytest.fixture
def roles_web(start_web, monkeypatch):
    monkeypatch.setenv("CIC_TEST_SMS_SECRET", "webhook-secret")
    web = start_web(cic_extra=ROLES_TOML, channels={"texts": SMS_HTTP})
    apis = {role: web.api().login(login) for role, login in LOGINS.items()}
    apis["anonymous"] = web.api()
    return web, apis


def _path(rule: str) -> str:
    for variable, value in ARGS.items():
        rule = rule.replace(variable, value)
    return rule


def test_every_endpoint_answers_every_role_as_the_table_says(roles_web):
    web, apis = roles_web
    status, ops = apis["admin"].call("GET", "/api/ops")
    assert status == 200
    served = {(method, route["rule"]) for route in ops["routes"] for method in route["methods"]}
    assert served - set(TABLE) == set(), "endpoints without a row in the access table"
    assert set(TABLE) - served == set(), "rows for endpoints the engine does not serve"
    sockets = {route["rule"] for route in ops["routes"] if route["websocket"]}
    wrong = []
    for (method, rule), allowed in sorted(TABLE.items()):
        for role in sorted(EVERYONE):
            if rule in sockets:
                try:
                    WsClient(web.ws_base + rule, origin=web.base, cookie=apis[role].cookie or None).sock.close()
                    status = 101
                except Refused as refused:
                    status = refused.status
            else:
                status = apis[role].call(method, _path(rule), {} if method in ("POST", "PATCH") else None)[0]
            if rule == "/api/logout" and role != "anonymous":
                apis[role] = web.api().login(LOGINS[role])  # that ended the session: a new one
            if allowed in ("signed", "token"):  # unsigned, or no API token: refused, whoever calls
                expected = {401}
            elif allowed in (PUBLIC, "monitor") or role in allowed:  # monitoring: this test runs on loopback
                expected = None  # past the checks: whatever the endpoint answers, but not 401 or 403
            else:
                expected = {401 if role == "anonymous" else 403}
            if (status not in expected) if expected else status in (401, 403):
                wrong.append(f"{role} {method} {rule}: {status}")
    assert wrong == []


def _mail(store, n: int, sender: str, queue: str, subject: str, attachment: bool = False) -> tuple[int, int]:
    engine = Engine(store, CicConfig.model_validate({"queues": [{"name": "general"}, {"name": "chat"},
                                                                {"name": "billing", "channels": ["chat", "email"]}]}))
    result = engine.ingest(InboundContact(
        channel=Channel.email, endpoint="support@example.com", external_id=f"<access{n}@example.org>", sender=sender,
        sender_name="Zhang Wei", subject=subject, parts=[ContentPart(body=f"{subject}: the details")], queue=queue,
        attachments=[Attachment(filename="bill.pdf", content_type="application/pdf", content=b"%PDF-1.4 x")]
        if attachment else [], metadata={"adapter": "support"}))
    return result.interaction_id, result.customer_id


@pytest.fixture
def two_queues(roles_web, store):
    """One customer who wrote to general (alice's and sue's) and to billing (bob's), a second
    customer known only to billing, and a case on each side."""
    web, apis = roles_web
    general, customer = _mail(store, 1, "zhang.wei@example.org", "general", "Internet is down")
    billing, _ = _mail(store, 2, "zhang.wei@example.org", "billing", "Salary details for the refund", attachment=True)
    other, other_customer = _mail(store, 3, "li.na@example.org", "billing", "Billing only")
    bob = web.api().login("bob")
    ids = {"general": general, "billing": billing, "other": other, "customer": customer,
           "other_customer": other_customer}
    with store.transaction() as conn:
        ids["attachment"] = conn.execute(
            "SELECT f.id FROM attachments f JOIN messages m ON m.id = f.message_id WHERE m.interaction_id = %s",
            (billing,)).fetchone()[0]
    ids["general_case"] = apis["agent"].call("POST", f"/api/interactions/{general}/cases",
                                             {"category": "outage", "description": "Down since 9"})[1]["id"]
    ids["billing_case"] = bob.call("POST", f"/api/interactions/{billing}/cases",
                                   {"category": "billing_complaint", "description": "Charged twice"})[1]["id"]
    apis["bob"] = bob
    return web, apis, ids


# role, action, resource -> the status (a resource the role may not see answers 404, as one that
# does not exist; acting on one they may see answers what the action does).
RESOURCES = [
    ("agent", "GET", "/api/interactions/{general}", None, 200),
    ("agent", "GET", "/api/interactions/{billing}", None, 404),
    ("agent", "POST", "/api/interactions/{billing}/note", {"text": "peek"}, 404),
    ("agent", "GET", "/api/interactions/{billing}/canned", None, 404),
    ("agent", "GET", "/api/attachments/{attachment}", None, 404),
    ("agent", "POST", "/api/interactions/{billing}/cases", {"category": "outage", "description": "x"}, 404),
    ("agent", "POST", "/api/customers/{other_customer}/identities", {"kind": "phone", "value": "+8613800138000"}, 404),
    ("agent", "POST", "/api/customers/{other_customer}/preferred-channel", {"channel": "email"}, 404),
    ("agent", "POST", "/api/customers/{customer}/preferred-channel", {"channel": "email"}, 200),
    ("agent", "GET", "/api/cases/{general_case}", None, 200),
    ("agent", "GET", "/api/cases/{billing_case}", None, 404),
    ("agent", "POST", "/api/cases/{billing_case}/note", {"text": "peek"}, 404),
    ("agent", "POST", "/api/cases/{billing_case}/resolve", {"resolution": "done"}, 404),
    ("agent", "POST", "/api/cases/{billing_case}/status", {"status": "in_progress"}, 404),
    ("agent", "POST", "/api/cases/{billing_case}/ask", {"question": "why?"}, 404),
    ("agent", "POST", "/api/interactions/{billing}/call/hold", None, 404),
    ("supervisor", "GET", "/api/interactions/{general}", None, 200),
    ("supervisor", "GET", "/api/interactions/{billing}", None, 404),
    ("supervisor", "POST", "/api/interactions/{billing}/move", {"queue": "general"}, 404),
    ("supervisor", "POST", "/api/interactions/{billing}/assign", {"agent": "alice"}, 404),
    ("supervisor", "POST", "/api/agents/bob/state", {"state": "away"}, 404),
    ("supervisor", "POST", "/api/interactions/{billing}/supervise", {"mode": "listen"}, 404),
    ("supervisor", "GET", "/api/cases/{billing_case}", None, 404),
    ("admin", "GET", "/api/interactions/{billing}", None, 200),
    ("admin", "GET", "/api/attachments/{attachment}", None, 200),
    ("admin", "GET", "/api/cases/{billing_case}", None, 200),
    ("department", "GET", "/api/cases/{billing_case}", None, 200),
    ("department", "GET", "/api/cases/{general_case}", None, 404),
    ("department", "POST", "/api/cases/{general_case}/note", {"text": "not ours"}, 404),
    ("bob", "GET", "/api/interactions/{billing}", None, 200),
    ("bob", "GET", "/api/attachments/{attachment}", None, 200),
    ("bob", "GET", "/api/interactions/{general}", None, 404),
    ("bob", "GET", "/api/cases/{general_case}", None, 404),
]


def test_each_role_reaches_the_resources_of_its_queues_and_no_others(two_queues):
    web, apis, ids = two_queues
    wrong = []
    for role, method, path, body, expected in RESOURCES:
        status, answer = apis[role].call(method, path.format(**ids), body)
        if status != expected:
            wrong.append(f"{role} {method} {path.format(**ids)}: {status} {answer}, not {expected}")
    assert wrong == []


def test_lists_and_the_customer_history_hold_only_what_the_reader_may_see(two_queues):
    web, apis, ids = two_queues
    # Alice opens the general mail: the customer's billing mail (another queue) is not in the history.
    view = apis["agent"].call("GET", f"/api/interactions/{ids['general']}")[1]
    assert [h["id"] for h in view["history"]] == [ids["general"]]
    assert "Salary" not in str(view)
    assert [c["id"] for c in view["cases"]] == [ids["general_case"]]
    assert [c["id"] for c in apis["agent"].call("GET", "/api/cases")[1]] == [ids["general_case"]]
    assert [c["id"] for c in apis["department"].call("GET", "/api/cases")[1]] == [ids["billing_case"]]
    assert {c["id"] for c in apis["admin"].call("GET", "/api/cases")[1]} == {ids["general_case"], ids["billing_case"]}
    # Search: li.na wrote only to billing; alice finds neither her nor her mail.
    assert apis["agent"].call("GET", "/api/search?q=li.na")[1] == {"customers": [], "interactions": []}
    assert [c["id"] for c in apis["bob"].call("GET", "/api/search?q=li.na")[1]["customers"]] == [ids["other_customer"]]
    # Admins see the whole history.
    admin_view = apis["admin"].call("GET", f"/api/interactions/{ids['general']}")[1]
    assert {h["id"] for h in admin_view["history"]} == {ids["general"], ids["billing"]}


def test_an_agent_cannot_learn_or_take_another_customers_address(two_queues, store):
    web, apis, ids = two_queues
    # li.na's address is another customer's: refused without saying whose.
    status, body = apis["agent"].call("POST", f"/api/customers/{ids['customer']}/identities",
                                      {"kind": "email", "value": "li.na@example.org"})
    assert status == 409 and str(ids["other_customer"]) not in body["error"] and "li.na" not in body["error"]
    assert body["error"] == "that email belongs to another customer; a supervisor can merge the two"
    status, customer = apis["agent"].call("POST", f"/api/customers/{ids['customer']}/identities",
                                          {"kind": "phone", "value": "13800138000"})
    assert status == 201 and {"kind": "phone", "value": "+8613800138000"} in [
        {"kind": i["kind"], "value": i["value"]} for i in customer["identities"]]
    engine = Engine(store, CicConfig.model_validate({"queues": [{"name": "general"}]}))
    assert engine.find_customer(IdentityKind.email, "li.na@example.org").id == ids["other_customer"]


def test_department_users_get_no_agent_socket(roles_web):
    web, apis = roles_web
    with pytest.raises(Refused) as refused:
        WsClient(web.ws_base + "/api/live", origin=web.base, cookie=apis["department"].cookie)
    assert refused.value.status == 403
