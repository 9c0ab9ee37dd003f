"""The dialer's decisions against the real database with an injectable clock: who gets a
campaign's message or call and when (call windows in each customer's time zone, quiet hours),
the do-not-contact list and opt-outs added mid-campaign, the weekly cap across campaigns,
retries by outcome, list imports and segments, and customers' answers linked to the campaign.

Messages are written to the outbox as the running engine would (its senders are tested with
the real SMPP and SMTP servers in test_campaign_messages.py); calls are handed to a recorder
where the voice adapter would take them (the real dialing runs against the ESL simulator in
test_campaign_calls.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cic_engine.models import Channel, IdentityKind, InboundContact, Tier
from cic_engine.outbound.dialer import Dialer
from cic_engine.routing.router import Router
from cic_engine.routing.service import Routing
from cic_engine.settings.outbound import CampaignSettings, OutboundSection
from cic_engine.store import campaigns as store_campaigns
from cic_engine.store.campaigns import attempts as campaign_attempts
from cic_engine.store.campaigns import do_not_contact
from cic_engine.store.campaigns import lists as campaign_lists
from cic_engine.store.campaigns import reports as campaign_reports

OUR_NUMBER = "10690000"


class RecordingVoice:
    """Stands where the node's voice adapter takes the calls to place."""

    def __init__(self):
        self.dialled: list[tuple[int, str]] = []

    def can_dial(self) -> bool:
        return True

    def dial_campaign(self, attempt_id, number, campaign, report, leg) -> None:
        self.dialled.append((attempt_id, number))


@pytest.fixture
def voice():
    return RecordingVoice()


@pytest.fixture
def dialer(store, engine, clock, voice):
    clock._now = datetime(2026, 1, 5, 3, 0, tzinfo=UTC)  # a Monday, 11:00 in Shanghai
    section = OutboundSection(quiet_start="21:00", quiet_end="08:00", default_time_zone="Asia/Shanghai")
    return Dialer(store, section, clock, "node-1", "CN",
                  adapter_for=lambda channel: ("sms-1", OUR_NUMBER) if channel == "sms" else
                  ("mail-1", "support@example.com") if channel == "email" else None,
                  voice=lambda: voice)


def queue_ids(store) -> dict[str, int]:
    with store.transaction() as conn:
        return dict(conn.execute("SELECT name, id FROM queues").fetchall())


def campaign(dialer, store, **settings):
    values = {"name": "renewals", "channel": "sms", "template": "Hello {name}, your plan {plan} renews soon.",
              "hours": {"start": "09:00", "end": "17:00", "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]},
              **settings}
    made = dialer.save(CampaignSettings.model_validate(values), queue_ids(store), "test")
    with store.transaction() as conn:
        store_campaigns.set_state(conn, made.id, "running", dialer.clock.now())
        return store_campaigns.get(conn, made.id)


def outbox(store) -> list[tuple[str, str]]:
    with store.transaction() as conn:
        return conn.execute("SELECT recipient, payload ->> 'text' FROM outbox ORDER BY id").fetchall()


def contact_states(store, campaign_id: int) -> dict[str, tuple[str, str | None]]:
    with store.transaction() as conn:
        return {r[0]: (r[1], r[2]) for r in conn.execute(
            "SELECT address, state, last_reason FROM campaign_contacts WHERE campaign_id = %s", (campaign_id,))}


def timeline(store, kind: str) -> list[dict]:
    with store.transaction() as conn:
        return [r[0] for r in conn.execute("SELECT data FROM timeline_events WHERE kind = %s ORDER BY id", (kind,))]


def test_call_windows_follow_each_customers_own_time_zone(dialer, store, clock):
    # 01:30 UTC on a Monday: 09:30 in Shanghai, 20:30 on Sunday in New York, 01:30 in London.
    clock._now = datetime(2026, 1, 5, 1, 30, tzinfo=UTC)
    sms = campaign(dialer, store)
    report, added, _ = dialer.import_contacts(sms, (
        "phone,name,time_zone,plan\n"
        "13800138000,Zhang Wei,,gold\n"                 # the zone comes from the number: Asia/Shanghai
        "+1 212 555 0100,Ann Lee,,silver\n"             # ... America/New_York
        "+44 20 7946 0000,Tom Hill,Europe/London,basic\n"))
    assert report.errors == [] and added == 3
    dialer.tick()
    assert outbox(store) == [("+8613800138000", "Hello Zhang Wei, your plan gold renews soon.")]
    states = contact_states(store, sms.id)
    assert states["+12125550100"][0] == "pending" and "America/New_York" in states["+12125550100"][1]
    assert states["+442079460000"][0] == "pending" and "quiet hours there (01:30 Europe/London)" in \
        states["+442079460000"][1]
    deferred = sorted((d["reason"], d["retry_at"]) for d in timeline(store, "campaign_deferred"))
    assert deferred == [("outside the campaign's hours there (Sun 20:30 America/New_York)", "2026-01-05T09:00:00-05:00"),
                        ("quiet hours there (01:30 Europe/London)", "2026-01-05T09:00:00+00:00")]

    clock._now = datetime(2026, 1, 5, 8, 59, tzinfo=UTC)  # 03:59 in New York, 08:59 in London: not yet
    dialer.tick()
    assert len(outbox(store)) == 1
    clock._now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    dialer.tick()
    assert [r for r, _ in outbox(store)] == ["+8613800138000", "+442079460000"]
    clock._now = datetime(2026, 1, 5, 14, 0, tzinfo=UTC)  # 09:00 in New York
    dialer.tick()
    assert [r for r, _ in outbox(store)][-1] == "+12125550100"
    with store.transaction() as conn:
        assert store_campaigns.get(conn, sms.id).state == "finished"


def test_do_not_contact_and_opt_out_added_mid_campaign_are_honoured_at_the_next_attempt(dialer, store, engine, clock):
    sms = campaign(dialer, store, rate_per_s=1, template="Hi {name}")
    dialer.import_contacts(sms, "phone,name\n13800000001,A\n13800000002,B\n13800000003,C\n13800000004,D\n")
    dialer.tick()
    assert [r for r, _ in outbox(store)] == ["+8613800000001"]  # one a second
    # Mid-campaign: B's number goes on the do-not-contact list, C texts STOP (an SMS opt-out).
    with store.transaction() as conn:
        do_not_contact.dnc_add(conn, "phone", "+8613800000002", "asked on a call", "agent:1", clock.now())
    c = engine.find_customer(IdentityKind.phone, "13800000003")
    engine.set_opt_out(c.id, Channel.sms, True, actor="customer")
    for _ in range(3):
        clock.advance(1)
        dialer.tick()
    assert [r for r, _ in outbox(store)] == ["+8613800000001", "+8613800000004"]
    states = contact_states(store, sms.id)
    assert states["+8613800000002"] == ("refused", "on the do-not-contact list")
    assert states["+8613800000003"] == ("refused", "opted out of sms")
    refused = timeline(store, "campaign_contact_refused")
    assert [r["reason"] for r in refused] == ["on the do-not-contact list", "opted out of sms"]


def test_the_weekly_cap_counts_contacts_across_campaigns(dialer, store, clock):
    dialer.section = OutboundSection(max_per_week=2, quiet_start="00:00", quiet_end="00:00")
    clock._now = datetime(2026, 1, 5, 3, 0, tzinfo=UTC)  # 11:00 in Shanghai
    first = clock.now()
    for name in ("spring", "summer", "autumn"):
        made = campaign(dialer, store, name=name, template=f"{name} offer")
        dialer.import_contacts(made, "phone\n13800138000\n")
        dialer.tick()
        clock.advance(3600)
    assert [t for _, t in outbox(store)] == ["spring offer", "summer offer"]
    with store.transaction() as conn:
        reason, next_at = conn.execute("SELECT last_reason, next_attempt_at FROM campaign_contacts c "
                                       "JOIN campaigns k ON k.id = c.campaign_id WHERE k.name = 'autumn'").fetchone()
    assert reason == "contacted 2 times in 7 days (cap 2)" and next_at == first + timedelta(days=7)
    clock._now = first + timedelta(days=7, seconds=1)
    dialer.tick()
    assert [t for _, t in outbox(store)][-1] == "autumn offer"


def test_progressive_dials_one_call_per_free_agent_and_retries_by_outcome(dialer, store, engine, clock, voice):
    clock._now = datetime(2026, 1, 5, 3, 0, tzinfo=UTC)  # 11:00 in Shanghai
    calls = campaign(dialer, store, channel="voice", mode="progressive", queue="general", template="",
                     max_attempts=3, retry_after_s={"busy": 60, "no_answer": 600})
    dialer.import_contacts(calls, "phone\n13800000001\n13800000002\n13800000003\n")
    dialer.tick()
    assert voice.dialled == []  # nobody is available to take an answered call
    routing = Routing(Router(store, engine.cic))
    routing.set_available(routing.agent_id("alice"))
    dialer.tick()
    dialer.tick()  # the call under way counts: still one
    assert [n for _, n in voice.dialled] == ["+8613800000001"]
    attempt_id = voice.dialled[0][0]
    with store.transaction() as conn:
        campaign_attempts.finish_attempt(conn, attempt_id, "busy", clock.now(), "USER_BUSY")
    dialer.tick()
    assert [n for _, n in voice.dialled][1:] == ["+8613800000002"]  # the busy one waits its 60 s
    with store.transaction() as conn:
        campaign_attempts.finish_attempt(conn, voice.dialled[1][0], "no_answer", clock.now(), "NO_ANSWER")
    dialer.tick()
    clock.advance(61)
    with store.transaction() as conn:
        campaign_attempts.finish_attempt(conn, voice.dialled[2][0], "busy", clock.now(), "USER_BUSY")
    dialer.tick()
    assert [n for _, n in voice.dialled] == ["+8613800000001", "+8613800000002", "+8613800000003",
                                             "+8613800000001"]
    with store.transaction() as conn:
        campaign_attempts.finish_attempt(conn, voice.dialled[3][0], "busy", clock.now(), "USER_BUSY")
        clock.advance(61)
    dialer.tick()
    with store.transaction() as conn:
        campaign_attempts.finish_attempt(conn, voice.dialled[4][0], "busy", clock.now(), "USER_BUSY")
    states = contact_states(store, calls.id)
    assert voice.dialled[4][1] == "+8613800000001"
    assert states["+8613800000001"][0] == "exhausted"  # three busy lines: no fourth attempt
    with store.transaction() as conn:
        due = dict(conn.execute("SELECT address, next_attempt_at FROM campaign_contacts WHERE state = 'pending'"))
    assert due["+8613800000002"] == datetime(2026, 1, 5, 3, 10, tzinfo=UTC)  # no answer: 600 s later
    outcomes = [d["outcome"] for d in timeline(store, "campaign_outcome")]
    assert outcomes == ["busy", "no_answer", "busy", "busy", "busy"]


def test_an_import_reports_rows_and_adds_nobody_twice(dialer, store):
    sms = campaign(dialer, store)
    data = ("phone,name,time_zone,plan\n13800138000,Zhang,,gold\n12345,Bad,,x\n13900139000,Zone,Mars/Base,x\n"
            "13800138000,Again,,gold\n")
    report, added, already = dialer.import_contacts(sms, data)
    assert (added, already) == (1, 0)
    assert [row for row, _ in report.errors] == [3, 4, 5]
    report, added, already = dialer.import_contacts(sms, data)
    assert (added, already) == (0, 1)
    # The template needs {plan}: a list without that column is refused before anything is added.
    report, added, _ = dialer.import_contacts(sms, "phone,name\n13700137000,Li\n")
    assert added == 0 and report.errors == [(1, "the template uses {plan}, which the list has no column for")]


def test_a_segment_takes_the_profiles_customers_by_tier(dialer, store, engine, clock):
    for number, tier in (("13800000001", Tier.vip), ("13800000002", Tier.standard), ("13800000003", Tier.vip)):
        result = engine.ingest(InboundContact(channel=Channel.sms, sender=number, endpoint=OUR_NUMBER,
                                              external_id=f"seed-{number}", needs_agent=False))
        engine.set_tier(result.customer_id, tier)
    vip = campaign(dialer, store, name="vip-thanks", template="Thank you {name}", segment={"tiers": ["vip"]})
    with store.transaction() as conn:
        assert campaign_lists.add_segment(conn, vip, vip.settings.segment, clock.now()) == 2
    assert sorted(contact_states(store, vip.id)) == ["+8613800000001", "+8613800000003"]


def test_a_customers_answer_to_a_campaign_message_is_linked_to_the_campaign(dialer, store, engine, clock):
    engine.after_ingest.append(dialer.link_replies)
    sms = campaign(dialer, store, template="Renew now? Reply YES")
    dialer.import_contacts(sms, "phone\n13800138000\n")
    dialer.tick()
    answer = engine.ingest(InboundContact(channel=Channel.sms, sender="13800138000", endpoint=OUR_NUMBER,
                                          external_id="mo-1", parts=[{"body": "YES"}]))
    stranger = engine.ingest(InboundContact(channel=Channel.sms, sender="13900139000", endpoint=OUR_NUMBER,
                                            external_id="mo-2", parts=[{"body": "hello"}]))
    with store.transaction() as conn:
        linked = dict(conn.execute("SELECT id, campaign_id FROM interactions WHERE direction = 'inbound'").fetchall())
        state = conn.execute("SELECT state FROM interactions WHERE id = %s", (answer.interaction_id,)).fetchone()[0]
        report = campaign_reports.report(conn, sms)
    assert linked == {answer.interaction_id: sms.id, stranger.interaction_id: None}
    assert state == "queued"  # it waits for an agent like any message
    assert timeline(store, "campaign_reply") == [{"campaign": "renewals"}]
    assert report["replies"] == 1 and report["attempts"] == 1
