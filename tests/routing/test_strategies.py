"""Queue strategies pick the agent a contact center would expect."""

from __future__ import annotations

from .conftest import agents


def _queue(strategy: str, **more):
    return [{"name": "general", "strategy": strategy, **more}]


def test_longest_idle_agent_gets_the_next_interaction(make_desk, clock):
    desk = make_desk(queues=_queue("longest-idle"), agents=agents("alice", "bob", "carol"))
    desk.available("bob")
    clock.advance(10)
    desk.available("carol")
    clock.advance(10)
    desk.available("alice")
    first = desk.contact("voice")
    desk.route()
    assert desk.offered_to(first) == ["bob"]
    second = desk.contact("voice")
    desk.route()
    assert desk.offered_to(second) == ["carol"]


def test_least_occupied_agent_gets_the_next_chat(make_desk, clock):
    desk = make_desk(queues=_queue("least-occupied"), agents=agents("alice", "bob"))
    desk.available("alice")
    clock.advance(1)
    desk.available("bob")  # alice is the longer idle, but she will be busier
    for _ in range(2):
        item = desk.contact("chat")
        desk.route()
        desk.accept_all()
    assert desk.routing.status(desk.agent("alice")).loads[3] == 1
    assert desk.routing.status(desk.agent("bob")).loads[3] == 1
    desk.routing.end(item, desk.agent("bob"), "handled")
    desk.routing.complete_wrap_up(item, desk.agent("bob"))
    third = desk.contact("chat")
    desk.route()
    assert desk.offered_to(third) == ["bob"]  # 0 chats against alice's 1


def test_round_robin_takes_turns_in_the_queue(make_desk, clock):
    desk = make_desk(queues=_queue("round-robin"), agents=agents("alice", "bob", "carol"))
    desk.available("alice", "bob", "carol")
    seen = []
    for _ in range(6):
        clock.advance(1)
        item = desk.contact("email")
        desk.route()
        seen.extend(desk.offered_to(item))
    assert seen[:3] == sorted(seen[:3]) and set(seen[:3]) == {"alice", "bob", "carol"}
    assert seen[3:] == seen[:3]


def test_best_skill_prefers_the_highest_level_among_the_qualified(make_desk, clock):
    desk = make_desk(
        queues=_queue("best-skill", skills={"billing": 5}),
        agents=[
            {"login": "novice", "name": "N", "queues": ["general"], "skills": {"billing": 4}},
            {"login": "good", "name": "G", "queues": ["general"], "skills": {"billing": 6}},
            {"login": "expert", "name": "E", "queues": ["general"], "skills": {"billing": 9}},
        ],
    )
    desk.available("novice", "good", "expert")
    first = desk.contact("email")
    desk.route()
    assert desk.offered_to(first) == ["expert"]
    desk.routing.set_away(desk.agent("expert"), "break")
    second = desk.contact("email")
    desk.route()
    assert desk.offered_to(second) == ["good"]
    third = desk.contact("email")
    desk.route()
    assert desk.offered_to(third) == ["good"]  # the novice lacks the level: never offered


def test_ring_all_offers_a_call_to_every_free_agent_and_the_first_accept_wins(make_desk):
    desk = make_desk(queues=_queue("ring-all"), agents=agents("alice", "bob", "carol"))
    desk.available("alice", "bob")
    call = desk.contact("voice")
    desk.route()
    assert desk.offered_to(call) == ["alice", "bob"]
    desk.routing.accept(call, desk.agent("bob"))
    assert desk.row(call)["assigned_agent_id"] == desk.agent("bob")
    assert desk.routing.status(desk.agent("alice")).loads[0] == 0  # her slot is back
    assert desk.events(call, "offer_withdrawn")[0]["reason"] == "taken"


def test_language_of_the_queue_or_the_caller_limits_the_agents(make_desk):
    desk = make_desk(
        queues=[{"name": "general", "language": "en"}],
        agents=[{"login": "li", "name": "Li", "queues": ["general"], "languages": ["zh"]},
                {"login": "sam", "name": "Sam", "queues": ["general"], "languages": ["en", "zh"]}],
    )
    desk.available("li")
    english = desk.contact("chat")
    chinese = desk.contact("chat", language="zh")
    desk.route()
    assert desk.offers() == {chinese: ["li"]}
    desk.available("sam")
    desk.route()
    assert desk.offered_to(english) == ["sam"]


def test_interaction_skills_from_the_contact_add_to_the_queue_skills(make_desk):
    desk = make_desk(agents=[
        {"login": "ann", "name": "A", "queues": ["general"], "skills": {"billing": 3}},
        {"login": "ben", "name": "B", "queues": ["general"], "skills": {"billing": 8}},
    ])
    desk.available("ann", "ben")
    hard = desk.contact("email", skills={"billing": 7})
    desk.route()
    assert desk.offered_to(hard) == ["ben"]
