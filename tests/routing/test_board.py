"""The supervisor's queue board: waiting, longest wait, service level against the target, ASA,
abandoned calls, agents by state."""

from __future__ import annotations

import pytest

from cic_engine.routing.service import RoutingError

from .conftest import agents


def test_service_level_counts_answers_within_the_queue_target(make_desk, clock):
    desk = make_desk(
        queues=[{"name": "general", "service_level": {"percent": 80, "within_s": 20},
                 "service_level_per_channel": {"email": {"percent": 90, "within_s": 14400}}}],
        agents=agents("alice", "bob", voice_exclusive=False),
    )
    since = clock.now()
    fast = desk.contact("voice")
    slow = desk.contact("voice")
    gave_up_early = desk.contact("voice")
    gave_up_late = desk.contact("voice")
    mail = desk.contact("email")
    desk.route()
    clock.advance(5)
    desk.routing.abandon(gave_up_early, "caller hung up")
    desk.available("alice")
    desk.route()
    desk.routing.accept(fast, desk.agent("alice"))
    clock.advance(25)
    desk.routing.abandon(gave_up_late)
    desk.available("bob")
    desk.route()
    desk.routing.accept(slow, desk.agent("bob"))
    desk.routing.accept(mail, desk.agent("bob"))  # an email answered after 30 s: well within 4 h

    board = {(b.queue, b.channel): b for b in desk.routing.queue_board(since)}
    voice = board[("general", "voice")]
    # answered in 20 s: 1 (fast); counted: 2 answered + 1 abandoned after 20 s (the early one is left out)
    assert (voice.answered, voice.abandoned, voice.service_level_pct) == (2, 2, pytest.approx(33.3))
    assert voice.avg_answer_s == pytest.approx(17.5) and voice.target_s == 20
    assert board[("general", "email")].service_level_pct == 100.0
    assert board[("general", "voice")].agents == {"busy": 2}
    assert desk.events(gave_up_late, "abandoned")[0]["waited_s"] == 30


def test_board_shows_what_waits_and_for_how_long(make_desk, clock):
    desk = make_desk(agents=agents("alice"))
    since = clock.now()
    desk.contact("chat")
    clock.advance(40)
    desk.contact("chat")
    clock.advance(20)
    desk.route()
    chat = next(b for b in desk.routing.queue_board(since) if b.channel == "chat")
    assert (chat.waiting, chat.longest_wait_s, chat.service_level_pct) == (2, 60, None)
    assert chat.agents == {"offline": 1}


def test_an_interaction_that_is_already_answered_cannot_be_abandoned(make_desk):
    desk = make_desk(agents=agents("alice"))
    item = desk.handling("voice", "alice")
    with pytest.raises(RoutingError, match="is active, not waiting"):
        desk.routing.abandon(item)


def test_place_in_line_and_expected_wait_from_the_last_hours_answers(make_desk, clock):
    desk = make_desk(agents=agents("alice"), queues=[{"name": "general", "wrap_up_s": 0}])
    alice = desk.agent("alice")
    desk.available("alice")
    for _ in range(3):  # answered a minute apart
        item = desk.handling("voice", "alice")
        desk.routing.end(item, alice)
        clock.advance(60)
    desk.routing.set_away(alice, "break")
    first, second = desk.contact("voice"), desk.contact("voice")
    desk.route()
    assert desk.routing.place_in_line(first) == (1, 60.0)
    assert desk.routing.place_in_line(second) == (2, 120.0)
    desk.routing.abandon(first)
    assert desk.routing.place_in_line(second)[0] == 1
    assert desk.routing.place_in_line(first) == (None, None)


def test_a_customer_can_give_up_before_the_router_has_placed_them(make_desk):
    desk = make_desk(agents=agents("alice"))
    item = desk.contact("chat")  # no routing pass yet
    desk.routing.abandon(item, "closed the chat window")
    assert (desk.state(item), desk.row(item)["outcome"]) == ("closed", "abandoned")
