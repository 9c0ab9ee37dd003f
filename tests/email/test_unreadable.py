"""A message the engine cannot take in as it is (a bug, a limit nobody foresaw) is recorded as
rejected with its bytes and the reason, and the batch moves on; a database failure is not
swallowed (the batch is read again)."""

from __future__ import annotations

import psycopg
import pytest

from cic_engine.adapters import AdapterContext
from cic_engine.adapters.email import EmailAdapter, EmailConfig
from cic_engine.mail.mime import parse


@pytest.fixture
def adapter(engine):
    config = EmailConfig.model_validate({"address": "support@example.com",
                                         "imap": {"username": "support@example.com", "password": "x"}})
    return EmailAdapter("support", config, AdapterContext(node="n", engine=engine, routing=None, events=None))


def mail(uid: int) -> tuple:
    raw = (f"From: Wang <wang@example.cn>\r\nSubject: Order {uid}\r\nMessage-ID: <m{uid}@example.cn>\r\n\r\n"
           f"body {uid}\r\n").encode()
    return parse(raw), raw, {"folder": "INBOX", "uid": str(uid)}


def test_an_unexpected_error_records_the_message_as_rejected_and_the_next_is_taken(adapter, engine, store,
                                                                                    monkeypatch):
    ingest_many = engine.ingest_many

    def broken(contacts, *args):
        if any(c.external_id == "<m7@example.cn>" for c in contacts):
            raise ValueError("a limit nobody foresaw")
        return ingest_many(contacts, *args)

    monkeypatch.setattr(engine, "ingest_many", broken)
    seven, eight = mail(7), mail(8)
    adapter._in_order([(adapter._ingest, *seven), (adapter._ingest, *eight)])
    with store.transaction() as conn:
        assert conn.execute("SELECT external_id FROM messages").fetchall() == [("<m8@example.cn>",)]
        [(reason, source, raw)] = conn.execute("SELECT reason, source, raw FROM rejected_contacts").fetchall()
    assert reason == "ValueError: a limit nobody foresaw" and bytes(raw) == seven[1]
    assert source == {"folder": "INBOX", "uid": "7", "from": "Wang <wang@example.cn>", "subject": "Order 7",
                      "message-id": "<m7@example.cn>"}
    adapter._in_order([(adapter._ingest, *seven)])  # read again after a crash: one record, seen again
    with store.transaction() as conn:
        assert conn.execute("SELECT count(*), sum(seen_again) FROM rejected_contacts").fetchone() == (1, 1)


def test_a_database_failure_is_not_taken_for_a_bad_message(adapter, engine, monkeypatch):
    def db_down(contacts, *args):
        raise psycopg.OperationalError("server closed the connection")

    monkeypatch.setattr(engine, "ingest_many", db_down)
    with pytest.raises(psycopg.OperationalError):
        adapter._in_order([(adapter._ingest, *mail(9))])
