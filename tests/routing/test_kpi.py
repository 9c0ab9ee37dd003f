"""KPI figures checked against a hand-computed example: a known hour of traffic gives known
service level, ASA, AHT, abandonment, first-contact resolution, occupancy and Erlang C agents;
and the timeline a real routing desk writes is read back as those facts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cic_engine.kpi import erlang
from cic_engine.kpi.report import Fact, Staffing, as_csv, kpis
from cic_engine.store import kpi as store_kpi
from tests.routing.conftest import agents

NINE = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def at(minutes: float, seconds: float = 0) -> datetime:
    return NINE + timedelta(minutes=minutes, seconds=seconds)


def test_erlang_c_against_the_formula_worked_by_hand():
    # 2 erlangs (60 contacts an hour, 120 s each). With 3 agents: P(wait) = (8/6 * 3) / (1 + 2 + 2 + 4) = 4/9,
    # SL(20 s) = 1 - 4/9 * e^(-1 * 20/120) = 0.6238. With 4 agents: P(wait) = 4/23, SL = 1 - 4/23 * e^(-2/6) = 0.8754.
    assert erlang.wait_probability(3, 2.0) == pytest.approx(4 / 9)
    assert erlang.service_level(3, 60, 120, 3600, 20) == pytest.approx(0.6238, abs=1e-4)
    assert erlang.wait_probability(4, 2.0) == pytest.approx(4 / 23)
    assert erlang.service_level(4, 60, 120, 3600, 20) == pytest.approx(0.8754, abs=1e-4)
    assert erlang.agents_needed(60, 120, 3600, 80, 20) == 4
    assert erlang.agents_needed(0, 120, 3600, 80, 20) == 0


HOUR = [
    # queued, answered after, talk, wrap, outcome, agent, transfers, the customer came back
    Fact(1, "general", "voice", at(0), at(0, 10), at(5, 10), at(6, 10), "handled", "alice", 0, False),
    Fact(2, "general", "voice", at(10), at(10, 30), at(14, 30), at(15, 30), "handled", "bob", 1, True),
    Fact(3, "general", "voice", at(20), None, None, at(20, 3), "abandoned", None, 0, False),  # a short abandon
    Fact(4, "general", "voice", at(30), None, None, at(31), "abandoned", None, 0, False),
    Fact(5, "general", "voice", at(40), at(40, 5), at(43, 5), at(44, 5), "handled", "alice", 0, False),
]
STAFFING = [Staffing("alice", ("general",), ((at(0), at(60)),)),
            Staffing("bob", ("general",), ((at(0), at(30)),))]
TARGETS = {("general", "voice"): (80.0, 20.0)}


def test_an_hour_of_traffic_gives_the_figures_worked_out_by_hand():
    [row] = kpis(HOUR, STAFFING, TARGETS, at(0), at(60), "hour", "queue_channel", short_abandon_s=5)
    assert row["key"] == "general/voice" and row["interval"] == at(0)
    assert (row["offered"], row["answered"], row["answered_in_target"]) == (5, 3, 2)
    assert (row["abandoned"], row["short_abandons"]) == (2, 1)
    assert row["service_level_pct"] == 50.0  # 2 in 20 s / (3 answered + 2 abandoned - 1 short)
    assert row["abandon_rate_pct"] == 25.0  # (2 - 1) / 4
    assert row["asa_s"] == 15.0  # (10 + 30 + 5) / 3
    assert (row["aht_s"], row["talk_s"], row["wrap_s"]) == (300.0, 240.0, 60.0)  # (360+300+240)/3; talk; wrap-up
    assert row["fcr_pct"] == 66.7  # 2 of the 3 handled customers did not come back
    assert row["transfers"] == 1
    assert row["staffed_agents"] == 1.5  # alice the whole hour, bob half of it
    assert row["occupancy_pct"] == 16.7  # 900 s handling / 5400 s staffed
    assert row["erlang_agents"] == 2  # 5 contacts x 300 s in an hour: 0.42 erlangs; 1 agent gives 60 %, 2 give 94 %


def test_per_agent_and_per_quarter_hour():
    by_agent = {r["key"]: r for r in kpis(HOUR, STAFFING, TARGETS, at(0), at(60), "hour", "agent")}
    assert by_agent["alice"]["answered"] == 2 and by_agent["alice"]["occupancy_pct"] == 16.7  # 600 / 3600
    assert by_agent["bob"]["occupancy_pct"] == 16.7  # 300 / 1800
    assert by_agent["(unanswered)"]["abandoned"] == 2
    quarters = kpis(HOUR, STAFFING, TARGETS, at(0), at(60), "15min", "queue")
    assert [(r["interval"], r["offered"]) for r in quarters] == [(at(0), 2), (at(15), 1), (at(30), 2)]


def test_the_csv_export_has_a_header_and_a_line_per_row():
    text = as_csv(kpis(HOUR, STAFFING, TARGETS, at(0), at(60), "hour", "queue_channel"))
    header, line, *_ = text.split("\r\n")
    assert header.startswith("interval,key,offered,answered,answered_in_target")
    assert line.startswith("2026-01-05T09:00:00+00:00,general/voice,5,3,2,2,1,50.0,80.0,20.0,15.0,300.0")


def test_the_timeline_a_routing_desk_writes_reads_back_as_facts(make_desk, store, clock):
    desk = make_desk(agents=agents("alice"), queues=[{"name": "general", "wrap_up_s": 60}])
    desk.available("alice")
    clock.advance(60)  # 09:01
    answered = desk.contact("voice")
    desk.route()
    clock.advance(12)
    desk.routing.accept(answered, desk.agent("alice"))
    clock.advance(200)
    desk.routing.end(answered, desk.agent("alice"))
    clock.advance(60)
    desk.routing.complete_wrap_up(answered, desk.agent("alice"))
    left = desk.contact("voice")
    clock.advance(40)
    desk.routing.abandon(left)
    clock.advance(600)
    with store.transaction() as conn:
        facts = {f.id: f for f in store_kpi.facts(conn, at(0), at(60), fcr_days=7)}
        staffed = store_kpi.staffing(conn, at(0), at(60))
    one, two = facts[answered], facts[left]
    assert (one.answered_at - one.queued_at).total_seconds() == 12
    assert (one.talk_end - one.answered_at).total_seconds() == 200
    assert (one.closed_at - one.talk_end).total_seconds() == 60
    assert (one.outcome, one.agent, one.channel, one.queue) == ("handled", "alice", "voice", "general")
    assert (two.outcome, two.answered_at, (two.closed_at - two.queued_at).total_seconds()) == ("abandoned", None, 40)
    assert [(s.agent, s.spans) for s in staffed] == [("alice", ((at(0), at(60)),))]
    [row] = kpis(list(facts.values()), staffed, {("general", "voice"): (80.0, 20.0)}, at(0), at(60))
    assert (row["service_level_pct"], row["asa_s"], row["aht_s"], row["abandon_rate_pct"]) == (50.0, 12.0, 260.0, 50.0)
