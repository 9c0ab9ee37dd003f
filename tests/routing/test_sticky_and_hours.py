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


# China's calendar: Golden Week 2025 (1-8 October) is closed; Sunday 28 September and Saturday
# 11 October are worked instead (调休) with Monday's hours; other weekends stay closed.
CN_OFFICE = {"timezone": "Asia/Shanghai", "holiday_calendar": "CN",
             **{day: ["09:00-18:00"] for day in ("mon", "tue", "wed", "thu", "fri")}}


@pytest.mark.parametrize(("utc", "expected"), [
    ("2025-09-30T02:00:00", True),   # Tuesday 10:00: a working day
    ("2025-10-01T02:00:00", False),  # Wednesday 10:00: National Day
    ("2025-10-08T02:00:00", False),  # Wednesday 10:00: still the holiday
    ("2025-09-28T02:00:00", True),   # Sunday 10:00: a make-up working day
    ("2025-09-28T11:00:00", False),  # Sunday 19:00: after Monday's hours
    ("2025-10-11T02:00:00", True),   # Saturday 10:00: a make-up working day
    ("2025-09-21T02:00:00", False),  # Sunday 10:00: an ordinary weekend
    ("2026-02-17T02:00:00", False),  # Spring Festival 2026: the calendar's next year, unasked
])
def test_a_queue_with_chinas_calendar_closes_on_its_holidays_and_opens_on_make_up_days(utc, expected):
    hours = OpenHours.model_validate(CN_OFFICE)
    assert is_open(hours, datetime.fromisoformat(utc).replace(tzinfo=UTC)) is expected


def test_make_up_days_can_keep_the_queues_own_weekend_hours():
    hours = OpenHours.model_validate({**CN_OFFICE, "make_up_days_as": None})
    assert is_open(hours, datetime.fromisoformat("2025-09-28T02:00:00").replace(tzinfo=UTC)) is False


def test_a_subdivisions_calendar_adds_its_own_holidays():
    weekdays = {day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}
    texas = OpenHours.model_validate({"timezone": "America/Chicago", "holiday_calendar": "US-TX", **weekdays})
    federal = OpenHours.model_validate({"timezone": "America/Chicago", "holiday_calendar": "US", **weekdays})
    independence_day_tx = datetime.fromisoformat("2026-03-02T16:00:00").replace(tzinfo=UTC)  # Monday 10:00
    assert is_open(federal, independence_day_tx) is True
    assert is_open(texas, independence_day_tx) is False


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
