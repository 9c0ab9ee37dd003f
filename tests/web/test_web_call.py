"""'Call us' in the chat widget, on the engine's side: a visitor in a chat gets a ticket for one
call (the token only in the page, its hash stored), within the chat's and the address's limits
and the call queue's opening hours; the voice adapter takes a ticket once. The call itself,
browser to browser through the real switch, is in tests/realswitch/browser_phone_calls.py."""

from __future__ import annotations

import textwrap
import urllib.request
from datetime import timedelta

import psycopg
import pytest

from cic_engine.clock import SystemClock
from cic_engine.store import Store
from cic_engine.store import web_calls as store_web_calls
from tests.web.test_chat_socket import chat, start, stored

CALL = textwrap.dedent("""\
    [call]
    ws_url = "ws://127.0.0.1:5067"
    domain = "call.example.cn"
    queue = "general"
    calls_per_chat = 2
    calls_per_hour = 3
    """)


@pytest.fixture
def call_web(start_web):
    return start_web(chat_extra=CALL)


def ask_call(ws) -> dict:
    ws.send({"type": "call"})
    return ws.receive_until("call", "error")


def test_a_visitor_in_a_chat_gets_a_ticket_for_one_call(call_web):
    assert call_web.api().call("GET", "/chat/webchat/settings")[1]["call"] is True
    ws = chat(call_web)
    ws.send({"type": "call"})
    assert ws.receive_until("error")["error"] == "start or resume the chat first"
    ws, _ = start(call_web, name="王小明")
    ticket = ask_call(ws)
    assert ticket["type"] == "call" and ticket["ws_url"] == "ws://127.0.0.1:5067"
    assert ticket["uri"].startswith("sip:cic-") and ticket["uri"].endswith("@call.example.cn")
    token = ticket["uri"][len("sip:cic-"):].split("@")[0]
    assert len(token) >= 24
    (key,) = stored(call_web, "SELECT key FROM chat_sessions")[0]
    rows = stored(call_web, "SELECT chat_key, queue, token_hash, expires_at - created_at FROM web_call_tickets")
    assert rows == [(key, "general", store_web_calls.token_hash(token), timedelta(seconds=60))]
    # The page may reach the visitors' profile: the demo page's policy allows that socket.
    with urllib.request.urlopen(call_web.base + "/demo", timeout=10) as page:
        assert "ws://127.0.0.1:5067" in page.headers["Content-Security-Policy"]


def test_a_chat_and_an_address_may_place_only_so_many_calls(call_web):
    first, _ = start(call_web)
    assert ask_call(first)["type"] == "call"
    assert ask_call(first)["type"] == "call"
    refused = ask_call(first)
    assert refused["code"] == "call-limit"  # calls_per_chat = 2
    second, _ = start(call_web, name="Li Lei")
    assert ask_call(second)["type"] == "call"
    limited = ask_call(second)
    assert limited["code"] == "rate-limited" and "too many calls from your network" in limited["error"]
    assert len(stored(call_web, "SELECT 1 FROM web_call_tickets")) == 3


def test_outside_the_call_queues_hours_there_is_no_button_and_no_ticket(start_web):
    closed = textwrap.dedent("""\
        [[queues]]
        name = "phones"
        hours = { timezone = "UTC" }
        """)
    web = start_web(chat_extra=CALL.replace('queue = "general"', 'queue = "phones"'), cic_extra=closed)
    assert web.api().call("GET", "/chat/webchat/settings")[1]["call"] is False
    ws, _ = start(web)
    assert ask_call(ws)["code"] == "call-closed"
    assert stored(web, "SELECT 1 FROM web_call_tickets") == []


def test_without_a_call_section_the_widget_has_no_button_and_the_socket_no_calls(web):
    assert web.api().call("GET", "/chat/webchat/settings")[1]["call"] is False
    ws, _ = start(web)
    ws.send({"type": "call"})
    assert ws.receive_until("error")["error"] == "unknown message type 'call'"


def test_a_ticket_is_taken_once_before_it_expires_and_again_only_by_its_own_call(call_web):
    ws, _ = start(call_web, name="王小明")
    token = ask_call(ws)["uri"][len("sip:cic-"):].split("@")[0]
    store = Store(call_web.db_url).open()
    clock = SystemClock()
    try:
        with store.transaction() as conn:
            assert store_web_calls.take(conn, "not-" + token, "call-0", clock.now()) is None
            taken = store_web_calls.take(conn, token, "call-1", clock.now())
            assert taken is not None and (taken.name, taken.queue, taken.adapter) == ("王小明", "general", "webchat")
            assert store_web_calls.take(conn, token, "call-2", clock.now()) is None  # a second call with it
            assert store_web_calls.take(conn, token, "call-1", clock.now()) is not None  # the same call, taken back
        later = ask_call(ws)["uri"][len("sip:cic-"):].split("@")[0]
        with store.transaction() as conn:
            assert store_web_calls.take(conn, later, "call-3", clock.now() + timedelta(seconds=61)) is None  # expired
    finally:
        store.close()
    with psycopg.connect(call_web.db_url) as conn:
        assert conn.execute("SELECT count(*) FROM web_call_tickets WHERE used_at IS NOT NULL").fetchone()[0] == 1
