"""The integration API (/api/v1) against a running engine: an admin makes scoped tokens, an
integration works with them (never with a cookie), the OpenAPI document is valid OpenAPI 3.1,
and schemathesis drives every operation from it without a server error or an answer the
document does not describe."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from openapi_spec_validator import validate

from cic_engine.store import integrations as store_integrations
from tests.web.test_access import ROLES_TOML

# Ada, an admin; the departments and case categories of the case tests.
ADMIN_AND_CASES = ROLES_TOML
ALL_SCOPES = ["customers:read", "customers:write", "interactions:read", "interactions:write", "cases:read",
              "cases:write"]


def call(base: str, method: str, path: str, token: str | None = None, body: dict | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict, dict]:
    data = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method, headers={
        **({"Content-Type": "application/json"} if data is not None else {}),
        **({"Authorization": f"Bearer {token}"} if token else {}), **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, json.loads(response.read() or b"{}"), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}"), dict(exc.headers)


def make_token(web, name: str, scopes: list[str]) -> str:
    admin = web.api().login("ada")
    status, made = admin.call("POST", "/api/admin/tokens", {"name": name, "scopes": scopes})
    assert status == 201, made
    return made["token"]


@pytest.fixture
def api_engine(start_web):
    return start_web(cic_extra=ADMIN_AND_CASES)


def test_a_token_does_what_its_scopes_allow_and_a_cookie_does_nothing(api_engine):
    web = api_engine
    reader = make_token(web, "reporting", ["customers:read"])
    assert reader.startswith("cic_")

    # No token: 401 with a Bearer challenge; an admin's own session cookie counts for nothing.
    status, body, headers = call(web.base, "GET", "/api/v1/customers?email=x@example.com")
    assert status == 401 and "token" in body["error"] and headers["WWW-Authenticate"].startswith("Bearer")
    admin = web.api().login("ada")
    status, _ = admin.call("GET", "/api/v1/customers?email=x@example.com")
    assert status == 401
    # A token that is no token, and one with the wrong scope.
    assert call(web.base, "GET", "/api/v1/customers?email=x@example.com", "cic_nonsense")[0] == 401
    assert call(web.base, "GET", "/api/v1/customers?email=x@example.com", reader)[0] == 200
    status, body, headers = call(web.base, "POST", "/api/v1/interactions", reader, {
        "channel": "email", "external_id": "f-1", "email": "x@example.com", "text": "hello"})
    assert status == 403 and "interactions:write" in body["error"]
    assert "insufficient_scope" in headers["WWW-Authenticate"]

    # Only admins make tokens; an agent is refused, and the list never shows a token.
    assert web.api().login("alice").call("POST", "/api/admin/tokens",
                                         {"name": "sneaky", "scopes": ["cases:read"]})[0] == 403
    status, listing = admin.call("GET", "/api/admin/tokens")
    assert status == 200 and [t["name"] for t in listing["tokens"]] == ["reporting"]
    assert reader not in json.dumps(listing)
    assert admin.call("POST", "/api/admin/tokens", {"name": "reporting", "scopes": ["cases:read"]})[0] == 409
    assert admin.call("POST", "/api/admin/tokens", {"name": "x", "scopes": ["everything"]})[0] == 400

    # Revoked: refused at once.
    token_id = listing["tokens"][0]["id"]
    assert admin.call("POST", f"/api/admin/tokens/{token_id}/revoke", {})[0] == 200
    assert call(web.base, "GET", "/api/v1/customers?email=x@example.com", reader)[0] == 401


def test_an_integration_creates_a_contact_updates_the_customer_and_opens_a_case(api_engine):
    web = api_engine
    token = make_token(web, "crm", ALL_SCOPES)
    contact = {"channel": "email", "external_id": "form-4711", "email": "Li.Wei@Example.com", "name": "李伟",
               "subject": "订单问题", "text": "我的订单 4711 还没有到。<script>alert(1)</script>", "queue": "general"}
    status, created, _ = call(web.base, "POST", "/api/v1/interactions", token, contact)
    assert status == 201 and created["new_customer"] and not created["duplicate"], created
    # The same contact again (a retry after a lost answer): the first one's ids, nothing new.
    status, again, _ = call(web.base, "POST", "/api/v1/interactions", token, contact)
    assert status == 200 and again["duplicate"] and again["interaction_id"] == created["interaction_id"]

    # The agent of the queue has it in the inbox, the text as sent (the page escapes it).
    alice = web.api().login("alice")
    status, view = alice.call("GET", f"/api/interactions/{created['interaction_id']}")
    assert status == 200 and view["messages"][0]["text"].startswith("我的订单 4711")
    assert view["interaction"]["state"] in ("queued", "offered")

    # Found by the address however it is written; changed; its timeline says so.
    status, found, _ = call(web.base, "GET", "/api/v1/customers?email=li.wei@example.com", token)
    assert status == 200 and [c["id"] for c in found["customers"]] == [created["customer_id"]]
    assert found["customers"][0]["display_name"] == "李伟"
    customer = f"/api/v1/customers/{created['customer_id']}"
    status, changed, _ = call(web.base, "PATCH", customer, token, {"tier": "vip", "notes": "大客户 since 2019"})
    assert status == 200 and changed["tier"] == "vip" and changed["notes"] == "大客户 since 2019"
    assert changed["display_name"] == "李伟"  # not sent, not changed
    assert call(web.base, "PATCH", customer, token, {"tier": "platinum"})[0] == 400
    assert call(web.base, "PATCH", customer, token, {"shoe_size": 42})[0] == 400
    status, timeline, _ = call(web.base, "GET", customer + "/timeline", token)
    kinds = [e["kind"] for e in timeline["events"]]
    assert {"interaction_opened", "message_received", "tier_changed", "profile_changed"} <= set(kinds)
    assert next(e for e in timeline["events"] if e["kind"] == "tier_changed")["actor"] == "api:crm"
    # A page at a time, oldest first: the pages together are the whole history, each event once.
    pages, after = [], 0
    while after is not None:
        status, page, _ = call(web.base, "GET", f"{customer}/timeline?limit=2&after={after}", token)
        assert status == 200 and len(page["events"]) <= 2
        pages += page["events"]
        after = page["next_after"]
    assert [e["id"] for e in pages] == sorted(e["id"] for e in timeline["events"])
    assert call(web.base, "GET", f"{customer}/timeline?limit=0", token)[0] == 400

    # A note from the CRM is on the interaction, by the integration's name.
    interaction = f"/api/v1/interactions/{created['interaction_id']}"
    assert call(web.base, "POST", interaction + "/notes", token, {"text": "客户已在 CRM 中登记"})[0] == 201
    status, view = alice.call("GET", f"/api/interactions/{created['interaction_id']}")
    note = next(e for e in view["events"] if e["kind"] == "note")
    assert note["data"]["text"] == "客户已在 CRM 中登记" and note["actor"] == "api:crm"
    status, read, _ = call(web.base, "GET", interaction, token)
    assert status == 200 and read["messages"][0]["text"] == contact["text"]

    # A case from it, read back and noted.
    status, case, _ = call(web.base, "POST", "/api/v1/cases", token, {
        "interaction_id": created["interaction_id"], "category": "billing_complaint", "description": "包裹未到"})
    assert status == 201, case
    status, seen, _ = call(web.base, "GET", f"/api/v1/cases/{case['id']}", token)
    assert status == 200 and seen["department"] == "billing" and seen["interactions"] == [created["interaction_id"]]
    assert call(web.base, "POST", f"/api/v1/cases/{case['id']}/notes", token, {"text": "已联系物流"})[0] == 201
    assert call(web.base, "POST", "/api/v1/cases", token, {
        "interaction_id": created["interaction_id"], "category": "nonsense", "description": "x"})[0] == 400

    # What does not exist is 404; what is not valid is 400 naming the field.
    assert call(web.base, "GET", "/api/v1/customers/999999", token)[0] == 404
    assert call(web.base, "GET", "/api/v1/interactions/99999999999999999999", token)[0] == 404
    status, body, _ = call(web.base, "POST", "/api/v1/interactions", token, {**contact, "external_id": "f-2",
                                                                             "email": None, "phone": "12"})
    assert status == 400 and "phone" in body["error"]
    status, body, _ = call(web.base, "POST", "/api/v1/interactions", token, {**contact, "external_id": "f-3",
                                                                             "queue": "nowhere"})
    assert status == 409 and "nowhere" in body["error"]


def test_the_openapi_document_is_valid_and_schemathesis_finds_nothing(api_engine, tmp_path):
    web = api_engine
    status, doc, _ = call(web.base, "GET", "/api/v1/openapi.json")
    assert status == 200 and doc["openapi"] == "3.1.0"
    validate(doc)  # raises on anything OpenAPI 3.1 does not allow
    assert len([op for path in doc["paths"].values() for op in path.values()]) == 10
    # The readable page lists every operation.
    with urllib.request.urlopen(web.base + "/api/v1/docs", timeout=10) as response:
        page = response.read().decode()
    for path in doc["paths"]:
        assert path in page

    token = make_token(web, "fuzz", ALL_SCOPES)
    # Something to find: a customer and an interaction with id 1 exist.
    call(web.base, "POST", "/api/v1/interactions", token, {"channel": "sms", "external_id": "seed",
                                                            "phone": "+8613800138000", "text": "你好"})
    report = tmp_path / "schemathesis.xml"
    run = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "run", f"{web.base}/api/v1/openapi.json", "--url", web.base,
         "-H", f"Authorization: Bearer {token}", "--checks",
         "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,"
         "negative_data_rejection", "--max-examples", "25", "--workers", "2", "--seed", "4711",
         "--phases", "examples,coverage,fuzzing", "--request-timeout", "20", "--report", "junit",
         "--report-junit-path", str(report), "--suppress-health-check", "all"],
        capture_output=True, text=True, timeout=600)
    print(run.stdout[-6000:], run.stderr[-3000:])
    assert run.returncode == 0, "schemathesis found failures (see its output above)"


def test_the_board_shows_when_a_token_was_last_used_noted_at_most_once_a_minute(store):
    """The admin's token list says when each was last used; a busy integration does not write
    a row per request, and a revoked token finds nobody."""
    made = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
    token_hash = hashlib.sha256(b"cic_shop").digest()

    def use(at: datetime):
        with store.transaction() as conn:
            found = store_integrations.integration(conn, token_hash, at)
            (shown,) = [t["last_used_at"] for t in store_integrations.tokens(conn)]
        return found, shown

    with store.transaction() as conn:
        token_id = store_integrations.create_token(conn, "shop", token_hash, ["customers:read"], None, made)
    found, shown = use(made + timedelta(seconds=5))
    assert found.name == "shop" and found.scopes == {"customers:read"} and shown == made + timedelta(seconds=5)
    assert use(made + timedelta(seconds=50)) == (found, made + timedelta(seconds=5))  # within the minute: no write
    assert use(made + timedelta(minutes=2))[1] == made + timedelta(minutes=2)
    with store.transaction() as conn:
        assert store_integrations.revoke_token(conn, token_id, made + timedelta(minutes=3))
    assert use(made + timedelta(minutes=5)) == (None, made + timedelta(minutes=2))
