"""A free agent finds its work wherever it waits in the line, and the order across queues holds."""

from __future__ import annotations

from .conftest import agents


def test_free_agent_gets_work_waiting_behind_many_it_cannot_take(make_desk, clock):
    desk = make_desk(queues=[{"name": "general"}, {"name": "legal", "skills": {"law": 8}}],
                     agents=agents("alice", queues=["general", "legal"]))
    for _ in range(600):
        desk.contact("email", queue="legal")  # nobody logged in has the skill
    clock.advance(1)
    last = desk.contact("chat")
    desk.available("alice")
    desk.route()
    assert desk.offers() == {last: ["alice"]}


def test_agent_in_two_queues_takes_the_earliest_across_them(make_desk, clock):
    desk = make_desk(queues=[{"name": "general"}, {"name": "billing"}],
                     agents=agents("alice", queues=["general", "billing"]))
    order = []
    for n in range(6):
        order.append(desk.contact("voice", queue="billing" if n % 2 else "general"))
        clock.advance(1)
    desk.available("alice")
    served = []
    for _ in order:
        desk.route()
        (offered,) = desk.offers()
        served.append(offered)
        desk.routing.accept(offered, desk.agent("alice"))
        desk.routing.end(offered, desk.agent("alice"), "handled")
        desk.routing.complete_wrap_up(offered, desk.agent("alice"))
    assert served == order


def test_interaction_opened_to_another_queue_reaches_its_agents(make_desk, clock):
    desk = make_desk(
        queues=[{"name": "general", "overflow": [{"after_s": 30, "action": "add-queue", "queue": "backup"}]},
                {"name": "backup"}],
        agents=[{"login": "bea", "name": "Bea", "queues": ["backup"]}],
    )
    item = desk.contact("sms")
    desk.available("bea")
    desk.route()
    assert desk.state(item) == "queued"  # not her queue yet
    clock.advance(30)
    desk.route()
    assert desk.offered_to(item) == ["bea"]
