"""Campaigns under a killed engine: SIGKILL in the middle of an SMS campaign and of a voice
campaign, then a restart. Every customer gets the campaign's text exactly once; every call
attempt under way at the kill is settled (its customer tried again, its agent freed), with one
call on the switch for each attempt on record."""

from __future__ import annotations

import time
from collections import Counter

import gevent
import pytest

from tests.channel_files import sms_toml, voice_toml
from tests.core.test_run import free_port, start
from tests.outbound.conftest import OutboundEngine, rows, wait_rows

pytestmark = pytest.mark.timeout(240)
ALL_DAY = {"start": "00:00", "end": "00:00", "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}


def kill_and_restart(engine: OutboundEngine) -> None:
    engine.proc.kill()
    engine.proc.wait(timeout=30)
    engine.proc = start(engine.tmp_path / "cic.toml", log=engine.tmp_path / "engine.log")


def test_an_sms_campaign_killed_midway_texts_every_customer_exactly_once(tmp_path, db_url, smsc, store):
    engine = OutboundEngine(tmp_path, db_url).start({"sms": sms_toml(smsc.port)})
    deadline = time.monotonic() + 20
    while smsc.ask(cmd="bound")["sessions"] != ["cic"]:
        assert time.monotonic() < deadline
        gevent.sleep(0.05)
    sue = engine.api("sue")
    phones = [f"139001{n:05d}" for n in range(40)]
    campaign_id = engine.campaign(sue, "phone,name\n" + "".join(f"{p},C{p[-2:]}\n" for p in phones),
                                  name="drill-sms", channel="sms", rate_per_s=10, hours=ALL_DAY,
                                  template="Your parcel {name} ships today.")
    sue.call("POST", f"/api/campaigns/{campaign_id}/start")
    deadline = time.monotonic() + 20
    while len(smsc.submits()) < 10:
        assert time.monotonic() < deadline
        gevent.sleep(0.02)
    kill_and_restart(engine)
    wait_rows(store, "SELECT 1 FROM campaigns WHERE state = 'finished'", timeout=60)
    wait_rows(store, "SELECT 1 FROM outbox WHERE state IN ('sent', 'failed')", count=len(phones), timeout=60)
    texts = Counter(s["destination"] for s in smsc.submits() if s["answer"] == "accepted")
    assert max(texts.values()) == 1  # nobody is texted twice ...
    interrupted = rows(store, "SELECT recipient, last_error FROM outbox WHERE state = 'failed'")
    # ... and a text whose sending the kill interrupted is not sent again but recorded, with why.
    assert len(interrupted) <= 1 and all("may have gone out" in why for _, why in interrupted)
    assert {"86" + p for p in phones} - set(texts) <= {r.lstrip("+") for r, _ in interrupted}
    assert rows(store, "SELECT count(*), count(DISTINCT contact_id) FROM campaign_attempts") == [(40, 40)]
    print(f"drill=campaign-sms-sigkill contacts={len(phones)} texted={sum(texts.values())} "
          f"doubled={sum(n - 1 for n in texts.values())} interrupted={len(interrupted)}")


def test_a_voice_campaign_killed_mid_call_frees_its_agents_and_calls_the_customers_again(tmp_path, db_url, store):
    """Two kills: one while the first two calls ring (lost: tried again; a call that answers
    after the restart is hung up), one while the next two are talking (their agents are freed
    to wrap up; the disposition decides, as after any call)."""
    from tests.fakeswitch.switch import FakeSwitch

    switch = FakeSwitch().start()
    try:
        switch.ring_s, switch.talk_s = 1.5, 30  # calls ring a while; conversations outlast the second kill
        engine = OutboundEngine(tmp_path, db_url).start({"pbx": voice_toml(free_port(), switch.port)})
        engine.available("alice", "bob")
        sue = engine.api("sue")
        phones = [f"+86137000{n:05d}" for n in range(4)]
        campaign_id = engine.campaign(sue, "phone\n" + "\n".join(phones) + "\n", name="drill-voice",
                                      channel="voice", queue="sales", mode="progressive", hours=ALL_DAY,
                                      retry_after_s={"lost": 0})
        sue.call("POST", f"/api/campaigns/{campaign_id}/start")
        wait_rows(store, "SELECT 1 FROM campaign_attempts", count=2)
        gevent.sleep(0.3)
        kill_and_restart(engine)  # 1: both calls still ring
        wait_rows(store, "SELECT 1 FROM campaign_attempts WHERE outcome = 'lost'", count=2)
        wait_rows(store, "SELECT 1 FROM campaign_attempts WHERE outcome = 'connected'", count=2)
        talking = [c for c in switch.calls if c.bridged_to is not None and not c.ended.is_set()]
        assert len(talking) == 2
        kill_and_restart(engine)  # 2: both are talking
        for call in talking:
            call.wait(20)
        switch.talk_s = 0.3
        agents = engine.available("alice", "bob")
        filed, deadline = 0, time.monotonic() + 60
        while time.monotonic() < deadline and rows(store, """SELECT count(*) FROM campaign_contacts
                                                              WHERE state <> 'done'""") != [(0,)]:
            for interaction_id, login in rows(store, """SELECT i.id, a.login FROM interactions i JOIN agents a
                                                        ON a.id = i.assigned_agent_id WHERE i.state = 'wrap_up'"""):
                agents[login].call("POST", f"/api/interactions/{interaction_id}/wrap-up", {"disposition": "sale"})
                filed += 1
            gevent.sleep(0.1)
        outcomes = dict(rows(store, """SELECT cc.address, array_agg(a.outcome ORDER BY a.id) FROM campaign_attempts a
                                       JOIN campaign_contacts cc ON cc.id = a.contact_id GROUP BY cc.address"""))
        assert sorted(outcomes.values()) == [["connected"], ["connected"], ["lost", "connected"],
                                             ["lost", "connected"]], outcomes
        # The calls cut off by the second kill ended their agents' work; the wrap-up still counted.
        assert rows(store, "SELECT count(*) FROM interactions WHERE outcome = 'call lost'") == [(2,)]
        assert rows(store, "SELECT count(*) FROM campaign_attempts WHERE disposition = 'sale'") == [(4,)]
        # Every call to a customer ended; the ones that answered after the first kill were hung up unanswered.
        for phone, attempts in outcomes.items():
            calls = [c for c in switch.calls if c.destination == phone]
            assert all(c.ended.is_set() for c in calls)
            if attempts[0] == "lost":
                assert not calls[0].rang  # nobody's phone rang for it
        print(f"drill=campaign-voice-sigkill contacts={len(phones)} lost_ringing=2 cut_off_talking=2 "
              f"wrap_ups={filed}")
    finally:
        switch.stop()
