"""One ordering: customer tier, queue priority and waiting age (routing/ordering.py)."""

from __future__ import annotations

from cic_engine.models import IdentityKind, Tier

from .conftest import agents


def _serve_one(desk) -> int:
    desk.route()
    (offered,) = desk.offers()
    desk.routing.accept(offered, desk.agent("alice"))
    desk.routing.end(offered, desk.agent("alice"))
    desk.routing.complete_wrap_up(offered, desk.agent("alice"))
    return offered


def _vip(desk, customer: int) -> None:
    found = desk.engine.find_customer(IdentityKind.phone, f"+86 138 0013 {customer:04d}")
    desk.engine.set_tier(found.id, Tier.vip)


def test_vip_caller_is_answered_before_standard_callers_who_came_earlier(make_desk, clock):
    desk = make_desk(agents=agents("alice"))
    desk.contact("voice", customer=9000)  # makes customer 9000 known, then mark them VIP
    _vip(desk, 9000)
    desk.available("alice")
    _serve_one(desk)

    standard = desk.contact("voice")
    clock.advance(60)
    vip = desk.contact("voice", customer=9000)
    assert _serve_one(desk) == vip
    assert _serve_one(desk) == standard


def test_a_long_waiting_standard_caller_is_not_overtaken_forever(make_desk, clock):
    desk = make_desk(agents=agents("alice"), routing={"tier_bonus_s": {"vip": 300}})
    desk.contact("voice", customer=9001)
    _vip(desk, 9001)
    desk.available("alice")
    _serve_one(desk)

    starving = desk.contact("voice")
    clock.advance(301)  # longer than the VIP head start
    late_vip = desk.contact("voice", customer=9001)
    assert _serve_one(desk) == starving
    assert _serve_one(desk) == late_vip


def test_queue_priority_counts_as_seconds_of_waiting(make_desk, clock):
    desk = make_desk(
        queues=[{"name": "general"}, {"name": "urgent", "priority": 10}],
        agents=agents("alice", queues=["general", "urgent"]),
        routing={"priority_point_s": 30},
    )
    normal = desk.contact("voice")
    clock.advance(200)
    urgent = desk.contact("voice", queue="urgent")  # 10 points = 300 s head start
    clock.advance(50)
    older_than_head_start = desk.contact("voice")  # arrived after: behind both
    desk.available("alice")
    order = [_serve_one(desk) for _ in range(3)]
    assert order == [urgent, normal, older_than_head_start]


def test_supervisor_raises_priority_of_a_waiting_interaction(make_desk, clock):
    desk = make_desk(agents=agents("alice"))
    first = desk.contact("voice")
    clock.advance(10)
    second = desk.contact("voice")
    desk.route()  # prepared, nobody available
    desk.routing.set_priority(second, 5, actor="sup")
    desk.available("alice")
    assert _serve_one(desk) == second
    assert desk.events(second, "priority_changed") == [{"from": 0, "to": 5}]
    assert _serve_one(desk) == first


def test_customer_made_vip_while_waiting_moves_ahead(make_desk, clock):
    desk = make_desk(agents=agents("alice"))
    first = desk.contact("voice")
    clock.advance(30)
    second = desk.contact("voice", customer=9100)
    desk.route()  # both in line, nobody logged in
    _vip(desk, 9100)
    desk.available("alice")
    assert _serve_one(desk) == second
    assert _serve_one(desk) == first
