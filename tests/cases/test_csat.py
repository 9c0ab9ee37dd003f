"""Satisfaction: surveys asked after an interaction and after a case's resolution, answered by
a bare 1-5 (by email or SMS, or a key after a call through the simulated switch), recorded once
and reported per agent, queue and category."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cic_engine.cases.service import Actor, Cases
from cic_engine.config import CicConfig
from cic_engine.csat.surveys import Surveys, score_of
from cic_engine.engine import Engine
from cic_engine.models import Channel, ContentPart, IdentityKind, InboundContact
from cic_engine.replies import Replies
from cic_engine.store import reports as store_reports
from tests.cases.test_case_lifecycle import CONFIG, email


@pytest.mark.parametrize("text, score", [("4", 4), (" 5 \n\n> How satisfied are you?", 5), ("3.", 3),
                                         ("\n2!\n-- \nsent from my phone", 2), ("6", None), ("4 stars", None),
                                         ("I would say 4", None), ("", None), ("５", 5), ("4分", 4),
                                         ("3。", 3), ("5 分！", 5)])
def test_only_a_bare_score_counts_as_an_answer(text, score):
    assert score_of(text) == score


@pytest.fixture
def surveyed(store, clock):
    cic = CicConfig.model_validate({**CONFIG, "csat": {"after": ["interaction", "case"]}})
    engine = Engine(store, cic, clock)
    engine.load_directory()
    replies = Replies(store, clock, adapter_for=lambda channel: ("sms", "10690000") if channel == "sms" else None)
    cases = Cases(store, cic, clock, replies)
    surveys = Surveys(store, cic.csat, "CN", clock, replies)
    engine.after_ingest.append(cases.customer_wrote)
    engine.before_ingest.append(surveys.classify)
    engine.after_ingest.append(surveys.answered)
    return engine, cases, surveys


def outbox_kinds(store) -> list[str]:
    with store.transaction() as conn:
        return [r[0] for r in conn.execute("SELECT payload ->> 'kind' FROM outbox ORDER BY id").fetchall()]


def test_a_score_by_email_is_recorded_once_and_needs_no_agent(surveyed, store):
    engine, _, surveys = surveyed
    first = email(engine, 1)
    survey_id = surveys.ask(first.interaction_id)
    assert survey_id is not None and surveys.ask(first.interaction_id) is None  # asked once
    assert outbox_kinds(store) == ["survey"]
    answer = email(engine, 2, "4\n\n> How satisfied are you with our help?")
    with store.transaction() as conn:
        score, agent_needed = conn.execute(
            """SELECT s.score, m.metadata ->> 'csat_score' FROM surveys s, messages m
               WHERE s.id = %s AND m.id = %s""", (survey_id, answer.message_id)).fetchone()
        events = conn.execute("SELECT data FROM timeline_events WHERE kind = 'csat'").fetchall()
    assert (score, agent_needed) == (4, "4") and [e[0]["score"] for e in events] == [4]
    email(engine, 3, "5")  # the survey is answered: a later bare number is an ordinary message
    with store.transaction() as conn:
        assert conn.execute("SELECT score FROM surveys").fetchall() == [(4,)]


def test_a_case_resolution_is_surveyed_on_the_customers_preferred_channel_and_the_score_does_not_reopen_it(
        surveyed, store, clock):
    engine, cases, surveys = surveyed
    first = email(engine, 1)
    engine.add_identity(first.customer_id, IdentityKind.phone, "+8613800138000")
    engine.set_preferred_channel(first.customer_id, Channel.sms)
    with store.transaction() as conn:
        alice = Actor(conn.execute("SELECT id FROM agents WHERE login = 'alice'").fetchone()[0], "alice",
                      frozenset({"agent"}), queue_ids=frozenset(r[0] for r in conn.execute("SELECT id FROM queues")))
        row = conn.execute("SELECT id, department_id FROM agents WHERE login = 'bill'").fetchone()
    bill = Actor(row[0], "bill", frozenset({"department"}), row[1])
    case_id = cases.open(alice, first.interaction_id, "billing_complaint", "Charged twice")
    cases.resolve(bill, case_id, "Refunded")
    assert surveys.ask_case(case_id) is not None and surveys.ask_case(case_id) is None
    with store.transaction() as conn:
        channel = conn.execute("SELECT channel FROM outbox WHERE payload ->> 'kind' = 'survey'").fetchone()[0]
    assert channel == "sms"
    engine.ingest(InboundContact(channel=Channel.sms, endpoint="10690000", external_id="sms-1",
                                 sender="+8613800138000", parts=[ContentPart(body="2")]))
    assert cases.view(alice, case_id)["status"] == "resolved"  # a score is not a complaint: no reopening
    with store.transaction() as conn:
        report = store_reports.cases_report(conn, clock.now() - timedelta(days=30), clock.now())
    assert [(c["category"], c["answers"], float(c["average"])) for c in report["csat"]["by_category"]] == [
        ("billing_complaint", 1, 2.0)]
    assert [(c["agent"], c["answers"]) for c in report["csat"]["by_agent"]] == [("alice", 1)]
    assert [(r["category"], r["resolved"], r["reopened"]) for r in report["resolution_by_category"]] == [
        ("billing_complaint", 1, 0)]


def test_a_customer_who_writes_chinese_is_asked_in_chinese_and_answers_5_fen(surveyed, store):
    engine, _, surveys = surveyed
    first = email(engine, 1, "我的账单有问题，多收了 30 元。")
    surveys.ask(first.interaction_id)
    with store.transaction() as conn:
        text, subject = conn.execute(
            "SELECT payload ->> 'text', payload ->> 'subject' FROM outbox WHERE payload ->> 'kind' = 'survey'").fetchone()
    assert text == "您对我们的服务满意吗？请回复 1（很差）到 5（很好）之间的数字。"
    assert subject == "您对我们的服务满意吗？"
    email(engine, 2, "5分")
    with store.transaction() as conn:
        assert conn.execute("SELECT score FROM surveys").fetchall() == [(5,)]


def test_an_english_writer_is_asked_in_the_default_words(surveyed, store):
    engine, _, surveys = surveyed
    surveys.ask(email(engine, 1, "My bill is wrong").interaction_id)
    with store.transaction() as conn:
        (text,) = conn.execute("SELECT payload ->> 'text' FROM outbox WHERE payload ->> 'kind' = 'survey'").fetchone()
    assert text.startswith("How satisfied are you with our help?")
