"""Overflow steps fire at their time, each recorded on the timeline."""

from __future__ import annotations

from .conftest import agents

SKILLED = {"name": "general", "skills": {"billing": 7}}


def test_skills_are_relaxed_after_the_configured_wait(make_desk, clock):
    desk = make_desk(
        queues=[{**SKILLED, "overflow": [{"after_s": 60, "action": "relax-skills", "by": 3}]}],
        agents=agents("junior", skills={"billing": 4}),
    )
    item = desk.contact("email")
    desk.available("junior")
    clock.advance(59)
    desk.route()
    assert desk.state(item) == "queued"
    clock.advance(1)
    desk.route()
    assert desk.offered_to(item) == ["junior"]
    (step,) = desk.events(item, "overflow")
    assert (step["step"], step["action"], step["skill_relax"]) == (1, "relax-skills", 3)


def test_another_queues_agents_are_added_then_it_moves_to_that_queue(make_desk, clock):
    desk = make_desk(
        queues=[
            {**SKILLED, "overflow": [{"after_s": 30, "action": "add-queue", "queue": "backup"},
                                     {"after_s": 90, "action": "move-to-queue", "queue": "overflow"}]},
            {"name": "backup"},
            {"name": "overflow", "priority": 5},
        ],
        agents=[{"login": "bea", "name": "Bea", "queues": ["backup"], "skills": {"billing": 9}},
                {"login": "olaf", "name": "Olaf", "queues": ["overflow"]}],
    )
    item = desk.contact("voice")
    desk.available("olaf")
    clock.advance(30)
    desk.route()
    assert desk.events(item, "overflow")[0]["added_queue"] == "backup"
    assert desk.state(item) == "queued"  # bea is not logged in
    clock.advance(60)
    desk.route()
    moved = desk.events(item, "overflow")[1]
    assert (moved["action"], moved["from_queue"], moved["to_queue"]) == ("move-to-queue", "general", "overflow")
    assert desk.offered_to(item) == ["olaf"]
    assert desk.row(item)["priority"] == 5


def test_a_call_goes_to_voicemail_but_an_email_skips_that_step(make_desk, clock):
    desk = make_desk(
        queues=[{"name": "general", "overflow": [{"after_s": 120, "action": "voicemail"}]}],
        agents=agents("alice"),
    )
    call = desk.contact("voice")
    mail = desk.contact("email")
    desk.route()
    clock.advance(120)
    desk.route()
    assert (desk.state(call), desk.row(call)["outcome"]) == ("closed", "voicemail")
    assert desk.state(mail) == "queued"
    assert desk.events(mail, "overflow")[0]["skipped"] == "voicemail applies to calls only"


def test_callback_step_keeps_the_callers_place(make_desk, clock):
    desk = make_desk(queues=[{"name": "general", "overflow": [{"after_s": 45, "action": "callback"}]}],
                     agents=agents("alice"))
    call = desk.contact("voice")
    later = desk.contact("voice")
    desk.route()
    clock.advance(45)
    desk.route()
    assert desk.row(call)["callback"] is True
    desk.available("alice")
    desk.route()
    assert desk.offered_to(call) == ["alice"] and desk.state(later) == "queued"


def test_supervisor_moves_an_interaction_and_the_new_queue_routes_it(make_desk):
    desk = make_desk(queues=[{"name": "general"}, {"name": "billing"}],
                     agents=[{"login": "bill", "name": "Bill", "queues": ["billing"]}])
    item = desk.contact("sms")
    desk.available("bill")
    desk.route()
    desk.routing.move(item, "billing", actor="sup")
    desk.route()
    assert desk.offered_to(item) == ["bill"]
    assert desk.events(item, "moved")[0]["to_queue"] == "billing"


def test_supervisor_assigns_to_a_named_agent_even_one_who_rejected_it(make_desk):
    desk = make_desk(agents=agents("alice", "bob"))
    item = desk.contact("email")
    desk.available("alice")
    desk.route()
    desk.routing.reject(item, desk.agent("alice"))
    desk.available("bob")
    desk.routing.set_away(desk.agent("bob"), "meeting")
    desk.routing.assign(item, desk.agent("alice"), actor="sup")
    assert desk.offered_to(item) == ["alice"]
    (offer,) = [e for e in desk.events(item, "offered")][1:]
    assert offer["queue_id"] == desk.row(item)["queue_id"]


def test_a_move_to_a_queue_that_does_not_take_the_channel_is_skipped_not_stuck(make_desk, clock):
    desk = make_desk(
        queues=[{"name": "general", "overflow": [{"after_s": 10, "action": "move-to-queue", "queue": "phones"}]},
                {"name": "phones", "channels": ["voice"]}],
        agents=agents("alice"),
    )
    mail = desk.contact("email")
    call = desk.contact("voice")
    clock.advance(10)
    desk.route()
    assert desk.events(mail, "overflow")[0]["skipped"] == "queue 'phones' does not take email"
    assert desk.events(call, "overflow")[0]["to_queue"] == "phones"
    desk.available("alice")
    desk.route()
    assert desk.offered_to(mail) == ["alice"]
