"""Calls go only to agents something would ring for: while a switch reports its phones
(require_registered_phone), an agent with no phone or browser registered on it is passed over
for calls and still gets chats and mail; a phone that registers brings the waiting call."""

from __future__ import annotations

import pytest

from cic_engine.adapters.voice.phones import registered_logins
from cic_engine.store import sip as store_sip

from .conftest import agents


def registrations(desk, switch: str, *logins: str):
    with desk.store.transaction() as conn:
        return store_sip.set_registered(conn, switch, logins, desk.clock.now())


def test_without_a_registered_phone_an_agent_gets_chats_but_no_calls(make_desk):
    desk = make_desk(agents=agents("alice", "bob"))
    registrations(desk, "pbx", "bob")
    call, chat = desk.contact("voice"), desk.contact("chat")
    desk.available("alice")
    desk.route()
    assert desk.state(call) == "queued"  # alice's browser is not registered: nothing would ring
    assert desk.offered_to(chat) == ["alice"]
    desk.available("bob")
    desk.route()
    assert desk.offered_to(call) == ["bob"]


def test_a_phone_that_registers_brings_the_waiting_call_and_one_that_goes_stops_them(make_desk):
    desk = make_desk(agents=agents("alice"))
    registrations(desk, "pbx")
    first = desk.contact("voice")
    desk.available("alice")
    desk.route()
    assert desk.state(first) == "queued"
    assert registrations(desk, "pbx", "alice") == ({"alice"}, set())
    desk.route()
    assert desk.offered_to(first) == ["alice"]
    desk.routing.reject(first, desk.agent("alice"))
    assert registrations(desk, "pbx") == (set(), {"alice"})
    second = desk.contact("voice")
    desk.clock.advance(60)
    desk.route()
    assert desk.state(first) == desk.state(second) == "queued"


def test_a_phone_registered_on_either_of_two_switches_counts(make_desk):
    desk = make_desk(agents=agents("alice"))
    registrations(desk, "pbx-1")
    registrations(desk, "pbx-2", "alice")
    call = desk.contact("voice")
    desk.available("alice")
    desk.route()
    assert desk.offered_to(call) == ["alice"]


def test_without_a_switch_that_reports_phones_every_agent_may_be_rung(make_desk):
    desk = make_desk(agents=agents("alice"))
    registrations(desk, "pbx")
    with desk.store.transaction() as conn:
        store_sip.track_switch(conn, "pbx", False)  # require_registered_phone taken off
    call = desk.contact("voice")
    desk.available("alice")
    desk.route()
    assert desk.offered_to(call) == ["alice"]


def test_the_switchs_registrations_listing_is_read_and_nonsense_refused():
    answer = ('{"row_count":2,"rows":[{"reg_user":"alice","realm":"127.0.0.1","url":"sofia/internal/sip:x@y;'
              'transport=ws"},{"reg_user":"bob","realm":"127.0.0.1"}]}')
    assert registered_logins(answer) == {"alice", "bob"}
    assert registered_logins('{"row_count":0}') == set()
    with pytest.raises(ValueError):
        registered_logins("-ERR no reply")
