"""Sticky routing to the customer's last agent, and open hours with after-hours actions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cic_engine.routing.schedule import is_open
from cic_engine.routing.service import RoutingError
from cic_engine.settings.routing import OpenHours

from .conftest import agents

STICKY = [{"name": "general", "sticky": {"window_s": 86400, "wait_s": 60}}]


def _handle(desk, item, login):
    agent = desk.agent(login)
    desk.routing.accept(item, agent)
    desk.routing.end(item, agent)
    desk.routing.complete_wrap_up(item, agent)


def _served_by_bob_first(desk, clock):
    desk.available("bob")
    first = desk.contact("email", customer=7)
    desk.route()
    _handle(desk, first, "bob")
    clock.advance(3600)
    desk.available("alice")


def test_sticky_agent_gets_the_customer_when_free(make_desk, clock):
    desk = make_desk(queues=STICKY, agents=agents("alice", "bob"))
    _served_by_bob_first(desk, clock)
    again = desk.contact("chat", customer=7)  # a different channel, the same person
    desk.route()
    assert desk.offered_to(again) == ["bob"]  # alice is longer idle, bob knows the customer


def test_sticky_wait_then_anyone_after_the_configured_time(make_desk, clock):
    desk = make_desk(queues=STICKY, agents=agents("alice", "bob", capacity={"voice": 1}))
    _served_by_bob_first(desk, clock)
    bobs_call = desk.contact("voice")
    desk.routing.set_offline(desk.agent("alice"))
    desk.route()
    desk.routing.accept(bobs_call, desk.agent("bob"))  # bob is on a call
    desk.available("alice")
    again = desk.contact("email", customer=7)
    with desk.store.transaction() as conn:
        conn.execute("UPDATE agents SET caps = '{1,0,3,3,5}' WHERE login = 'bob'")  # bob can't take it now
    desk.route()
    assert desk.state(again) == "queued"  # waiting for bob, alice is free
    clock.advance(59)
    desk.route()
    assert desk.state(again) == "queued"
    clock.advance(1)
    desk.route()
    assert desk.offered_to(again) == ["alice"]


def test_sticky_does_not_wait_for_an_agent_who_is_logged_out(make_desk, clock):
    desk = make_desk(queues=STICKY, agents=agents("alice", "bob"))
    _served_by_bob_first(desk, clock)
    desk.routing.set_offline(desk.agent("bob"))
    again = desk.contact("email", customer=7)
    desk.route()
    assert desk.offered_to(again) == ["alice"]


OFFICE = {"timezone": "Asia/Shanghai", "mon": ["09:00-12:00", "13:00-18:00"], "tue": ["09:00-18:00"],
          "holidays": ["2026-01-06"]}


@pytest.mark.parametrize(("utc", "expected"), [
    ("2026-01-05T01:00:00", True),   # Monday 09:00 in Shanghai
    ("2026-01-05T04:30:00", False),  # Monday 12:30: lunch gap
    ("2026-01-05T10:00:00", False),  # Monday 18:00: closed (end excluded)
    ("2026-01-06T03:00:00", False),  # Tuesday 11:00 but a holiday
    ("2026-01-10T03:00:00", False),  # Saturday
])
def test_open_hours_follow_the_queues_time_zone_and_holidays(utc, expected):
    hours = OpenHours.model_validate(OFFICE)
    assert is_open(hours, datetime.fromisoformat(utc).replace(tzinfo=UTC)) is expected


def test_after_hours_contact_goes_to_the_configured_queue(make_desk, clock):
    # the clock starts on Monday 2026-01-05 09:00 UTC = 17:00 Shanghai; advance to 19:00
    desk = make_desk(
        queues=[{"name": "general", "hours": OFFICE, "after_hours": {"action": "queue", "queue": "night"}},
                {"name": "night"}],
        agents=[{"login": "owl", "name": "Owl", "queues": ["night"]}],
    )
    open_item = desk.contact("email")
    clock.advance(2 * 3600)
    late = desk.contact("email")
    desk.available("owl")
    desk.route()
    assert desk.offered_to(late) == ["owl"]
    assert desk.state(open_item) == "queued"
    (event,) = desk.events(late, "after_hours")
    assert (event["action"], event["to_queue"]) == ("queue", "night")


def test_after_hours_call_goes_to_voicemail_and_email_gets_an_auto_reply_event(make_desk, clock):
    desk = make_desk(queues=[{"name": "general", "hours": OFFICE, "after_hours": {"action": "voicemail"}}],
                     agents=agents("alice"))
    clock.advance(2 * 3600)
    call = desk.contact("voice")
    mail = desk.contact("email")
    desk.route()
    assert (desk.state(call), desk.row(call)["outcome"]) == ("closed", "voicemail")
    assert desk.state(mail) == "queued"
    assert desk.events(mail, "after_hours")[0]["action"] == "auto-reply"


def test_moving_to_a_queue_that_does_not_take_the_channel_is_refused(make_desk):
    desk = make_desk(queues=[{"name": "general"}, {"name": "phones", "channels": ["voice"]}])
    item = desk.contact("email")
    desk.route()
    with pytest.raises(RoutingError, match="does not take email"):
        desk.routing.move(item, "phones", actor="sup")


def test_last_agent_is_preferred_when_free_even_without_a_wait(make_desk, clock):
    desk = make_desk(queues=[{"name": "general", "sticky": {"window_s": 86400, "wait_s": 0}}],
                     agents=agents("alice", "bob"))
    _served_by_bob_first(desk, clock)
    again = desk.contact("sms", customer=7)
    desk.route()
    assert desk.offered_to(again) == ["bob"]


def test_last_agent_outside_the_queue_is_not_preferred(make_desk, clock):
    desk = make_desk(queues=[{"name": "general", "sticky": {"window_s": 86400, "wait_s": 60}},
                             {"name": "sales", "sticky": {"window_s": 86400, "wait_s": 60}}],
                     agents=agents("alice", "bob") + [{"login": "sam", "name": "Sam", "queues": ["sales"]}])
    _served_by_bob_first(desk, clock)
    desk.available("sam")
    sale = desk.contact("email", customer=7, queue="sales")
    desk.route()
    assert desk.offered_to(sale) == ["sam"]


def test_sticky_window_is_respected(make_desk, clock):
    desk = make_desk(queues=[{"name": "general", "sticky": {"window_s": 600, "wait_s": 60}}],
                     agents=agents("alice", "bob"))
    _served_by_bob_first(desk, clock)  # an hour ago: outside a 10-minute window
    again = desk.contact("email", customer=7)
    inside = desk.contact("email", customer=8)
    desk.route()
    assert desk.row(again)["sticky_agent_id"] is None
    assert desk.state(again) == "offered" and desk.state(inside) == "offered"


def test_after_hours_queue_that_does_not_take_the_channel_means_an_auto_reply(make_desk, clock):
    desk = make_desk(
        queues=[{"name": "general", "hours": OFFICE, "after_hours": {"action": "queue", "queue": "phones"}},
                {"name": "phones", "channels": ["voice"]}],
    )
    clock.advance(2 * 3600)
    chat = desk.contact("chat")
    desk.route()
    assert desk.events(chat, "after_hours")[0]["action"] == "auto-reply"
    assert desk.state(chat) == "queued" and desk.row(chat)["queue_id"] == desk.router.queues.ids["general"]
