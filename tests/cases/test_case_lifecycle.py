"""A case's life with an injectable clock: opened from an interaction, moved through its
category's workflow, SLA warning, breach and escalation, the clock paused while the customer
has the question, a customer's message landing in the case and reopening a resolved one."""

from __future__ import annotations

import pytest

from cic_engine.cases.service import ENGINE, Actor, CaseRefused, Cases
from cic_engine.config import CicConfig
from cic_engine.engine import Engine
from cic_engine.models import Channel, ContentPart, InboundContact
from cic_engine.replies import Replies

HOUR = 3600.0

CONFIG = {
    "engine": {"phone_region": "CN", "default_queue": "general"},
    "queues": [{"name": "general"}],
    "agents": [
        {"login": "alice", "name": "Alice", "queues": ["general"]},
        {"login": "bill", "name": "Bill", "roles": ["department"], "department": "billing"},
        {"login": "bella", "name": "Bella", "roles": ["department"], "department": "billing"},
        {"login": "tom", "name": "Tom", "roles": ["department"], "department": "technical"},
    ],
    "cases": {
        "departments": [{"name": "billing", "title": "Billing", "escalate_to": "bella"},
                        {"name": "technical", "title": "Technical support"}],
        "categories": [
            {"name": "billing_complaint", "title": "Billing complaint", "department": "billing", "sla_h": 48,
             "warn_at": 0.75, "reopen_within_h": 72},
            {"name": "outage", "title": "Service outage", "department": "technical", "sla_h": 4},
        ],
    },
}


@pytest.fixture
def world(store, clock):
    cic = CicConfig.model_validate(CONFIG)
    engine = Engine(store, cic, clock)
    engine.load_directory()
    cases = Cases(store, cic, clock, Replies(store, clock, adapter_for=lambda channel: None))
    engine.after_ingest.append(cases.customer_wrote)  # as the node wires it
    with store.transaction() as conn:
        ids = dict(conn.execute("SELECT login, id FROM agents").fetchall())
        departments = dict(conn.execute("SELECT name, id FROM departments").fetchall())
        queues = dict(conn.execute("SELECT name, id FROM queues").fetchall())

    def actor(login: str) -> Actor:
        seed = next(a for a in cic.agents if a.login == login)
        return Actor(ids[login], login, frozenset(seed.roles), departments.get(seed.department),
                     frozenset(queues[q] for q in seed.queues))
    return engine, cases, actor


def email(engine, n: int, text: str = "My bill is wrong"):
    return engine.ingest(InboundContact(
        channel=Channel.email, endpoint="support@example.com", external_id=f"<m{n}@example.org>",
        sender="zhang.wei@example.org", subject="Bill", parts=[ContentPart(body=text)],
        metadata={"adapter": "support"}))


def kinds(cases, actor, case_id) -> list[str]:
    return [e["kind"] for e in cases.view(actor, case_id)["events"]]


def test_a_case_runs_its_workflow_with_every_change_on_the_timeline(world):
    engine, cases, actor = world
    first = email(engine, 1)
    case_id = cases.open(actor("alice"), first.interaction_id, "billing_complaint", "Charged twice in March", "high")
    case = cases.view(actor("bill"), case_id)
    assert (case["status"], case["department"], case["severity"], case["sla"]) == ("new", "billing", "high", "ok")
    assert case["interactions"] == [first.interaction_id] and case["moves"] == [
        "in_progress", "waiting_for_customer", "resolved"]
    cases.move(actor("bill"), case_id, "in_progress", "looking at the invoices")
    with pytest.raises(CaseRefused, match="a case that is in_progress cannot become closed; it can become "
                                          "waiting_for_customer, resolved"):
        cases.move(actor("bill"), case_id, "closed")
    cases.resolve(actor("bill"), case_id, "Refunded the second charge")
    cases.move(actor("bill"), case_id, "closed")
    with pytest.raises(CaseRefused, match="it can become nothing"):
        cases.move(actor("bill"), case_id, "in_progress")
    assert kinds(cases, actor("bill"), case_id) == ["case_opened", "case_customer_told", "case_status", "case_status",
                                                    "case_customer_told", "case_status"]
    events = [e for e in cases.view(actor("alice"), case_id)["events"] if e["kind"] != "case_customer_told"]
    assert [(e["data"].get("from"), e["data"].get("to"), e["actor"]) for e in events[1:]] == [
        ("new", "in_progress", "bill"), ("in_progress", "resolved", "bill"), ("resolved", "closed", "bill")]
    told = [e["data"] for e in cases.view(actor("alice"), case_id)["events"] if e["kind"] == "case_customer_told"]
    assert [(t["what"], t["channel"]) for t in told] == [("opened", "email"), ("resolved", "email")]
    history = engine.customer_history(first.customer_id)
    assert "case_opened" in [e.kind for e in history]  # the customer's timeline has it too


def test_sla_warning_then_breach_then_escalation_to_the_departments_lead(world, clock):
    engine, cases, actor = world
    case_id = cases.open(actor("alice"), email(engine, 1).interaction_id, "billing_complaint", "Charged twice")
    cases.move(actor("bill"), case_id, "in_progress")
    clock.advance(35 * HOUR)
    assert cases.check_sla() == [] and cases.view(actor("bill"), case_id)["sla"] == "ok"
    clock.advance(1 * HOUR + 1)  # 75% of 48 h
    assert cases.check_sla() == [(case_id, "warning")]
    assert cases.check_sla() == []  # once
    assert cases.view(actor("bill"), case_id)["sla"] == "warning"
    clock.advance(12 * HOUR)
    assert cases.check_sla() == [(case_id, "breach"), (case_id, "escalated")]
    case = cases.view(actor("bill"), case_id)
    assert case["sla"] == "breached" and case["owner"] == "bella"
    assert kinds(cases, actor("bill"), case_id)[-3:] == ["case_sla_warning", "case_sla_breach", "case_escalated"]
    assert cases.check_sla() == []


def test_the_clock_stops_while_the_customer_has_the_question_and_their_answer_restarts_it(world, clock):
    engine, cases, actor = world
    first = email(engine, 1)
    case_id = cases.open(actor("alice"), first.interaction_id, "billing_complaint", "Charged twice")
    due = cases.view(actor("bill"), case_id)["due_at"]
    clock.advance(10 * HOUR)
    cases.ask_customer(actor("bill"), case_id, "Which card was charged?")
    assert cases.view(actor("bill"), case_id)["sla"] == "paused"
    clock.advance(100 * HOUR)  # far past the due date, but the customer had the ball
    assert cases.check_sla() == []
    answer = email(engine, 2, "The Visa ending 4242")
    case = cases.view(actor("bill"), case_id)
    assert case["status"] == "in_progress" and case["sla"] == "ok"
    assert (case["due_at"] - due).total_seconds() == 100 * HOUR  # moved by the paused time
    assert answer.interaction_id in case["interactions"]
    assert kinds(cases, actor("bill"), case_id)[-4:] == ["case_question", "case_customer_told",
                                                         "case_customer_message", "case_status"]


def test_a_reply_soon_after_resolution_reopens_the_case_and_a_late_one_does_not(world, clock):
    engine, cases, actor = world
    case_id = cases.open(actor("alice"), email(engine, 1).interaction_id, "billing_complaint", "Charged twice")
    cases.resolve(actor("bill"), case_id, "Refunded")
    clock.advance(24 * HOUR)
    email(engine, 2, "Still not refunded!")
    case = cases.view(actor("alice"), case_id)
    assert (case["status"], case["reopened"], case["resolved_at"]) == ("in_progress", 1, None)
    assert "case_reopened" in kinds(cases, actor("alice"), case_id)
    cases.resolve(actor("bill"), case_id, "Refunded, for real")
    clock.advance(73 * HOUR)
    email(engine, 3, "Thanks")
    assert cases.view(actor("alice"), case_id)["status"] == "resolved"
    assert cases.open_for_customer(ENGINE, case["customer_id"])[0]["id"] == case_id  # screen pop: still open (not closed)


def test_a_department_sees_and_changes_only_its_own_cases(world):
    engine, cases, actor = world
    first = email(engine, 1)
    billing = cases.open(actor("alice"), first.interaction_id, "billing_complaint", "Charged twice")
    outage = cases.open(actor("alice"), first.interaction_id, "outage", "No internet since 9:00")
    assert [c["id"] for c in cases.listing(actor("bill"))] == [billing]
    assert [c["id"] for c in cases.listing(actor("tom"))] == [outage]
    assert sorted(c["id"] for c in cases.listing(actor("alice"))) == sorted([billing, outage])
    for attempt in (lambda: cases.view(actor("tom"), billing), lambda: cases.move(actor("tom"), billing, "in_progress"),
                    lambda: cases.note(actor("tom"), billing, "x"), lambda: cases.resolve(actor("tom"), billing, "x"),
                    lambda: cases.ask_customer(actor("tom"), billing, "x")):
        with pytest.raises(CaseRefused) as refused:
            attempt()
        assert refused.value.status == 404
    with pytest.raises(CaseRefused) as refused:
        cases.open(actor("bill"), first.interaction_id, "billing_complaint", "x")
    assert refused.value.status == 403
    assert cases.view(actor("bill"), billing)["status"] == "new"


def test_bad_case_settings_name_the_problem():
    bad = {**CONFIG, "cases": {**CONFIG["cases"], "categories": [
        {"name": "x", "title": "X", "department": "billing", "transitions": {"new": ["done"], "resolved": [],
                                                                               "closed": []}}]}}
    with pytest.raises(ValueError, match=r"statuses \['done'\] are moved to but have no entry"):
        CicConfig.model_validate(bad)
    bad = {**CONFIG, "agents": [{"login": "x", "name": "X", "roles": ["department"], "department": "legal"}]}
    with pytest.raises(ValueError, match="no department named 'legal'"):
        CicConfig.model_validate(bad)


def test_rules_open_a_case_by_themselves_for_matching_new_contacts(store, clock):
    config = {**CONFIG, "cases": {**CONFIG["cases"], "rules": [
        {"category": "billing_complaint", "channel": "email", "endpoint": "Complaints@Example.com"},
        {"category": "outage", "severity": "high", "metadata": {"ivr": ".*outage.*"}}]}}
    cic = CicConfig.model_validate(config)
    engine = Engine(store, cic, clock)
    engine.load_directory()
    cases = Cases(store, cic, clock)
    engine.after_ingest.append(cases.customer_wrote)
    complaint = engine.ingest(InboundContact(
        channel=Channel.email, endpoint="complaints@example.com", external_id="<r1@example.org>",
        sender="li.na@example.org", subject="Overcharged", parts=[ContentPart(body="See attached")]))
    call = engine.ingest(InboundContact(
        channel=Channel.voice, endpoint="+861065529000", external_id="call-1", sender="+8613900139000",
        metadata={"ivr": "main > report an outage"}))
    other = engine.ingest(InboundContact(
        channel=Channel.email, endpoint="support@example.com", external_id="<r2@example.org>",
        sender="li.na@example.org", subject="Question", parts=[ContentPart(body="Hi")]))
    opened = {c["category"]: c for c in cases.listing(Actor(None, "test"))}
    assert opened["billing_complaint"]["description"] == "Overcharged"
    assert opened["outage"]["severity"] == "high"
    assert cases.view(Actor(None, "test"), opened["outage"]["id"])["interactions"] == [call.interaction_id]
    assert complaint.interaction_id in cases.view(Actor(None, "test"), opened["billing_complaint"]["id"])[
        "interactions"]
    # Li Na's next mail lands in her open case instead of opening another.
    assert other.interaction_id in cases.view(Actor(None, "test"), opened["billing_complaint"]["id"])["interactions"]
    assert len(cases.listing(Actor(None, "test"))) == 2


def test_a_customer_who_writes_chinese_hears_of_their_case_in_chinese(world, store):
    engine, cases, actor = world
    first = email(engine, 1, "三月份的账单重复扣款了。")
    case_id = cases.open(actor("alice"), first.interaction_id, "billing_complaint", "Charged twice in March", "high")
    cases.resolve(actor("bill"), case_id, "已退还第二笔扣款。")
    with store.transaction() as conn:
        sent = conn.execute("""SELECT payload ->> 'kind', payload ->> 'text', payload ->> 'subject' FROM outbox
                               ORDER BY id""").fetchall()
    assert [(k, s) for k, _, s in sent] == [("case_opened", f"您的工单 #{case_id}"), ("case_resolved", f"您的工单 #{case_id}")]
    assert sent[0][1].startswith(f"我们已为您创建工单 #{case_id}（")
    assert sent[1][1].startswith(f"您的工单 #{case_id}（") and "已退还第二笔扣款。" in sent[1][1]
