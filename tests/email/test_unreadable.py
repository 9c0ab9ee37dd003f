"""A message the engine cannot take in as it is (a bug, a limit nobody foresaw) is kept on
record, flagged with the reason, and the batch moves on; a database failure is not swallowed."""

from __future__ import annotations

import psycopg
import pytest

from cic_engine.adapters import AdapterContext
from cic_engine.adapters.email import EmailAdapter, EmailConfig


@pytest.fixture
def adapter(engine):
    config = EmailConfig.model_validate({"address": "support@example.com",
                                         "imap": {"username": "support@example.com", "password": "x"}})
    return EmailAdapter("support", config, AdapterContext(node="n", engine=engine, routing=None, events=None))


def test_an_unexpected_error_keeps_the_message_on_record_flagged(adapter, store):
    taken = []

    def broken(where):
        raise ValueError("a limit nobody foresaw")

    adapter._in_order([(broken, {"folder": "INBOX", "uid": "7"}), (taken.append, {"folder": "INBOX", "uid": "8"})])
    assert taken == [{"folder": "INBOX", "uid": "8"}]  # the next message is still taken
    with store.transaction() as conn:
        [(problems, body)] = conn.execute(
            """SELECT m.metadata ->> 'problems', p.body FROM messages m JOIN message_parts p ON p.message_id = m.id
               WHERE m.metadata ->> 'uid' = '7'""").fetchall()
    assert problems == "unreadable: ValueError: a limit nobody foresaw" and "UID 7" in body


def test_a_database_failure_is_not_taken_for_a_bad_message(adapter):
    def db_down(where):
        raise psycopg.OperationalError("server closed the connection")

    with pytest.raises(psycopg.OperationalError):
        adapter._in_order([(db_down, {"folder": "INBOX", "uid": "9"})])
