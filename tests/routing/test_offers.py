"""The offer protocol: reserve, offer with a timeout, accept / reject / timeout, requeue in place."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cic_engine.routing.service import RoutingError

from .conftest import agents


def test_waiting_email_is_offered_to_the_available_agent_and_accepted(make_desk):
    desk = make_desk(agents=agents("alice"))
    first = desk.contact("email")
    desk.route()
    assert desk.state(first) == "queued"  # nobody is logged in

    desk.available("alice")
    desk.route()
    assert desk.offered_to(first) == ["alice"]
    assert desk.routing.status(desk.agent("alice")).state == "busy"

    desk.routing.accept(first, desk.agent("alice"))
    row = desk.row(first)
    assert row["state"] == "active" and row["assigned_agent_id"] == desk.agent("alice")
    assert desk.kinds(first)[-3:] == ["queued", "offered", "accepted"] or "accepted" in desk.kinds(first)


def test_rejected_offer_requeues_at_its_place_and_skips_that_agent(make_desk, clock):
    desk = make_desk(agents=agents("alice", "bob", capacity={"email": 1}))
    older = desk.contact("email")
    clock.advance(5)
    newer = desk.contact("email")
    desk.available("alice")
    desk.route()
    assert desk.offers() == {older: ["alice"]}

    desk.routing.reject(older, desk.agent("alice"))
    assert desk.state(older) == "queued"
    desk.route()
    # alice is free again but excluded for `older`: she gets the newer one
    assert desk.offers() == {newer: ["alice"]}
    desk.available("bob")
    desk.route()
    assert desk.offers() == {newer: ["alice"], older: ["bob"]}
    assert desk.row(older)["queued_at"] < desk.row(newer)["queued_at"]  # position kept: still first in line


def test_agents_who_all_passed_on_an_interaction_get_it_again_after_reoffer_after_s(make_desk, clock):
    """With two agents who both missed or turned down a chat, it must not wait for ever."""
    desk = make_desk(agents=agents("alice", "bob"), routing={"offer_timeout_s": 15, "reoffer_after_s": 30})
    item = desk.contact("chat")
    desk.available("alice")
    desk.route()
    desk.routing.reject(item, desk.agent("alice"))
    desk.available("bob")
    desk.route()
    assert desk.offered_to(item) == ["bob"]
    clock.advance(15)
    desk.route()  # bob misses it
    assert desk.state(item) == "queued"
    clock.advance(29)
    desk.route()
    assert desk.state(item) == "queued"  # both passed over, until 30 s after the last of them
    clock.advance(1)
    desk.route()
    assert desk.offered_to(item) in (["alice"], ["bob"])


def test_offer_times_out_requeues_and_goes_to_the_next_agent(make_desk, clock):
    desk = make_desk(agents=agents("alice", "bob"), routing={"offer_timeout_s": 15})
    item = desk.contact("chat")
    desk.available("alice")
    desk.route()
    assert desk.offered_to(item) == ["alice"]

    clock.advance(14)
    desk.route()
    assert desk.offered_to(item) == ["alice"]  # not yet
    desk.available("bob")
    clock.advance(1)
    desk.route()
    assert desk.offered_to(item) == ["bob"]
    assert desk.events(item, "offer_timeout")[0]["requeued"] is True
    with pytest.raises(RoutingError):
        desk.routing.accept(item, desk.agent("alice"))  # too late
    assert desk.routing.status(desk.agent("alice")).loads == [0, 0, 0, 0, 0]


def test_consecutive_missed_offers_set_the_agent_away(make_desk, clock):
    desk = make_desk(agents=agents("alice"), routing={"offer_timeout_s": 10, "max_missed_offers": 2})
    for _ in range(3):
        desk.contact("voice")
    alice = desk.agent("alice")
    desk.available("alice")
    desk.route()
    clock.advance(10)
    desk.route()  # first miss; a new offer follows
    assert desk.routing.status(alice).presence == "available"
    clock.advance(10)
    desk.route()  # second miss in a row
    status = desk.routing.status(alice)
    assert (status.presence, status.away_reason) == ("away", "missed-offers")
    assert desk.offers() == {}
    assert desk.agent_states("alice")[-1] == ("away", "missed-offers")


def test_an_accept_resets_the_missed_offer_count(make_desk, clock):
    desk = make_desk(agents=agents("alice"), routing={"offer_timeout_s": 10, "max_missed_offers": 2})
    alice = desk.agent("alice")
    for _ in range(3):
        desk.contact("voice")
    desk.available("alice")
    desk.route()
    clock.advance(10)
    desk.route()  # a miss, then a new offer
    (offered,) = desk.offers()
    desk.routing.accept(offered, alice)
    assert desk.routing.status(alice).missed_offers == 0
    desk.routing.end(offered, alice)
    clock.advance(30)  # wrap-up
    desk.route()
    assert len(desk.offers()) == 1
    clock.advance(10)
    desk.route()  # one more miss: not two in a row
    assert desk.routing.status(alice).presence == "available"


def test_going_away_withdraws_pending_offers_without_blame(make_desk):
    desk = make_desk(agents=agents("alice", "bob"))
    item = desk.contact("email")
    desk.available("alice")
    desk.route()
    desk.routing.set_away(desk.agent("alice"), "lunch")
    assert desk.state(item) == "queued"
    desk.available("alice")
    desk.route()
    assert desk.offered_to(item) == ["alice"]  # not excluded: it was not her choice


def test_unknown_away_reason_is_refused_with_the_configured_ones(make_desk):
    desk = make_desk(agents=agents("alice"))
    with pytest.raises(RoutingError, match="unknown away reason 'nap'.*lunch"):
        desk.routing.set_away(desk.agent("alice"), "nap")


def test_end_goes_to_wrap_up_with_the_queue_timer_then_frees_the_slot(make_desk, clock):
    desk = make_desk(queues=[{"name": "general", "wrap_up_s": 30}], agents=agents("alice"))
    alice = desk.agent("alice")
    call = desk.handling("voice", "alice")
    second = desk.contact("voice")
    desk.routing.end(call, alice)
    assert desk.routing.status(alice).state == "wrap_up"
    desk.route()
    assert desk.state(second) == "queued"  # wrap-up holds the voice slot
    clock.advance(30)
    desk.route()
    assert desk.state(call) == "closed"
    assert desk.events(call, "closed")[0]["by"] == "wrap-up timer"
    assert desk.offered_to(second) == ["alice"]


def test_wrap_up_done_by_the_agent_records_the_disposition(make_desk):
    desk = make_desk(agents=agents("alice"))
    alice = desk.agent("alice")
    item = desk.handling("chat", "alice")
    desk.routing.end(item, alice)
    desk.routing.complete_wrap_up(item, alice, "resolved")
    row = desk.row(item)
    assert (row["state"], row["disposition"], row["outcome"]) == ("closed", "resolved", "handled")
    assert desk.routing.status(alice).state == "available"
    states = [s for s, _ in desk.agent_states("alice")]
    assert states == ["available", "busy", "wrap_up", "available"]


def test_agent_set_away_for_missed_offers_gives_back_the_other_offers_at_once(make_desk, clock):
    desk = make_desk(agents=agents("alice", "bob"), routing={"offer_timeout_s": 10, "max_missed_offers": 1})
    first = desk.contact("sms")
    desk.available("alice")
    desk.route()
    clock.advance(5)
    later = [desk.contact("sms") for _ in range(2)]
    desk.route()  # alice now holds three offers, the first expiring first
    assert sorted(desk.offers()) == [first, *later]
    clock.advance(5)
    desk.route()
    assert desk.routing.status(desk.agent("alice")).presence == "away"
    assert all(desk.state(i) == "queued" for i in [first, *later])
    assert desk.events(later[0], "offer_withdrawn")[0]["reason"] == "agent away: missed offers"
    desk.available("bob")
    desk.route()
    assert sorted(desk.offers()) == [first, *later] and all(v == ["bob"] for v in desk.offers().values())


def test_unanswered_offer_goes_back_ahead_of_later_arrivals(make_desk, clock):
    desk = make_desk(agents=agents("alice", "bob"), routing={"offer_timeout_s": 20})
    first = desk.contact("voice")
    desk.available("alice")
    desk.route()
    clock.advance(10)
    second = desk.contact("voice")  # arrives while alice's offer rings
    clock.advance(10)
    desk.available("bob")
    desk.route()
    # alice let it ring out: the call keeps its place, bob takes it before the later caller
    assert desk.offers() == {first: ["bob"], second: ["alice"]}


def test_a_customer_writing_during_wrap_up_makes_the_chat_the_agents_work_again(make_desk):
    """Not closed unanswered by "Finish wrap-up": the agent answers, then ends it again."""
    desk = make_desk(agents=agents("alice"), queues=[{"name": "general", "wrap_up_s": 60}])
    alice = desk.agent("alice")
    chat = desk.handling("chat", "alice", customer=777, conversation_key="chat:k1")
    desk.routing.end(chat, alice)
    assert desk.state(chat) == "wrap_up" and desk.routing.status(alice).state == "wrap_up"

    again = desk.contact("chat", customer=777, conversation_key="chat:k1")
    assert again == chat
    row = desk.row(chat)
    assert (row["state"], row["assigned_agent_id"], row["wrap_up_until"]) == ("active", alice, None)
    assert desk.routing.status(alice).state == "busy"
    assert desk.events(chat, "resumed")[0]["why"] == "customer wrote during wrap-up"
    desk.routing.end(chat, alice)
    desk.routing.complete_wrap_up(chat, alice)
    assert desk.state(chat) == "closed" and desk.routing.status(alice).loads == [0, 0, 0, 0, 0]


def test_an_agent_whose_inbox_is_gone_past_the_grace_is_set_away_and_their_offer_goes_back(make_desk, clock, store):
    from cic_engine.store import agents as store_agents

    desk = make_desk(agents=agents("alice", "bob"), routing={"disconnected_after_s": 60})
    alice = desk.agent("alice")
    desk.available("alice")
    with store.transaction() as conn:
        store_agents.alive(conn, alice, clock.now() + timedelta(seconds=60))  # her inbox beat last now
    item = desk.contact("chat")
    desk.route()
    assert desk.offered_to(item) == ["alice"]
    clock.advance(59)
    desk.route()
    assert desk.routing.status(alice).presence == "available"  # within the grace: a reconnect may come
    clock.advance(2)
    desk.available("bob")
    desk.route()
    status = desk.routing.status(alice)
    assert (status.presence, status.away_reason) == ("away", "disconnected")
    assert desk.offered_to(item) == ["bob"]  # her offer went back at once, to who is there
    # Back (she sets herself available through the API): an old inbox's mark does not send her away again.
    desk.available("alice")
    desk.route()
    assert desk.routing.status(alice).presence == "available"
