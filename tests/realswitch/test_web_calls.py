"""'Call us' tickets on the real switch with the shipped visitors' dialplan: a call dialling a
chat's ticket is queued as that chat's customer; the same ticket again, a made-up one, or any
other number a visitor dials, is refused (the first by the engine, on record; the last by the
dialplan before the engine hears of it)."""

from __future__ import annotations

import uuid as uuidlib
from datetime import timedelta

import psycopg
import pytest

from cic_engine.store import chat as store_chat
from cic_engine.store import web_calls as store_web_calls
from tests.realswitch.freeswitch import RealSwitch
from tests.voice.conftest import interaction, wait_for

pytestmark = pytest.mark.timeout(120)


def a_chat_with_a_ticket(store, token: str) -> str:
    key = f"chat-{uuidlib.uuid4().hex}"
    with store.transaction() as conn:
        now = conn.execute("SELECT now()").fetchone()[0]
        store_chat.create(conn, uuidlib.uuid4().bytes, key, "webchat", "王小明", None, now, language="zh-CN")
        store_web_calls.issue(conn, token, key, "webchat", "general", "127.0.0.1", now, now + timedelta(seconds=60))
    return key


def visitor_dials(fs: RealSwitch, number: str) -> tuple[str, str]:
    """A visitor's call into the cic_webcall context, once answered or refused: (the visitor's
    leg, the leg the dialplan hands on, '' when refused)."""
    leg = str(uuidlib.uuid4())
    answer = fs.api(f"originate {{origination_uuid={leg},origination_caller_id_number=visitor,"
                    f"ignore_early_media=true,loopback_initial_codec=PCMU}}loopback/{number}/cic_webcall &park()",
                    timeout=30)
    return leg, fs.var(leg, "other_loopback_leg_uuid") if answer.startswith("+OK") else ""


def rejected(db_url: str) -> list[tuple]:
    with psycopg.connect(db_url) as conn:
        return conn.execute("SELECT channel, reason FROM rejected_contacts").fetchall()


def test_a_ticket_brings_one_call_in_as_the_chats_customer_and_no_second(engine, fs, store, db_url):
    token = "T" * 8 + uuidlib.uuid4().hex
    key = a_chat_with_a_ticket(store, token)
    leg, call = visitor_dials(fs, f"cic-{token}")
    record = wait_for(lambda: interaction(store, call), what="the web call on record")
    assert record["state"] == "queued"
    with store.transaction() as conn:
        (customer,) = conn.execute("SELECT customer_id FROM customer_identities WHERE kind = 'chat' AND value = %s",
                                   (key,)).fetchone()
    assert record["customer_id"] == customer
    with store.transaction() as conn:
        (metadata,) = conn.execute("SELECT metadata FROM messages WHERE external_id = %s", (call,)).fetchone()
    assert metadata["chat"] == key and metadata["web_call"] == "webchat" and metadata["language"] == "zh-CN"
    # The same ticket again: refused by the engine, and on record for the team.
    again, again_call = visitor_dials(fs, f"cic-{token}")
    wait_for(lambda: not fs.exists(again), what="the second call refused")
    assert interaction(store, again_call) is None
    assert rejected(db_url) == [("voice", "a web call without a valid ticket (unknown, used or expired)")]
    assert fs.exists(leg)  # the first caller is still waiting
    fs.api(f"uuid_kill {leg}")


def test_a_made_up_ticket_or_another_number_gets_nothing(engine, fs, store, db_url):
    guessed, guessed_call = visitor_dials(fs, "cic-" + "A" * 32)
    wait_for(lambda: not fs.exists(guessed), what="the guess refused")
    assert interaction(store, guessed_call) is None
    assert len(rejected(db_url)) == 1
    for number in ("+861065521000", "1000", "cic-short"):  # a DID, an extension, a malformed ticket
        leg, _ = visitor_dials(fs, number)
        wait_for(lambda leg=leg: not fs.exists(leg), what=f"{number} refused by the dialplan")
    assert len(rejected(db_url)) == 1  # the engine never heard of them
