"""The email channel end to end: mail delivered into a real Dovecot mailbox reaches the queue
through a real `cic-engine run`; replies go out through a real SMTP server."""

from __future__ import annotations

import time
from email.message import EmailMessage

import pytest

from tests.email.conftest import MAILBOX

pytestmark = pytest.mark.timeout(120)


def mail(sender: str = "li.wei@example.cn", subject: str = "Order 1234 has not arrived", body: str = "Where is it?",
         message_id: str = "<m1@example.cn>", **headers: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Li Wei <{sender}>"
    msg["To"] = MAILBOX
    msg["Subject"] = subject
    msg["Message-ID"] = message_id
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg.as_bytes()


def wait_for(condition, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"{what} not met within {timeout}s")


def rows(store, sql: str, *args) -> list[tuple]:
    with store.transaction() as conn:
        return conn.execute(sql, args).fetchall()


def interaction_of(store, message_id: str) -> tuple | None:
    found = rows(store, """SELECT i.id, i.state, i.subject, m.id FROM messages m JOIN interactions i
                           ON i.id = m.interaction_id WHERE m.channel = 'email' AND m.external_id = %s""", message_id)
    return found[0] if found else None


def test_mail_arrives_by_idle_is_committed_then_marked_seen(start_mail_engine, dovecot, store):
    start_mail_engine()
    wait_for(lambda: rows(store, "SELECT 1 FROM adapter_checkpoints WHERE adapter = 'support'"), what="engine watching")
    sent = time.monotonic()
    dovecot.deliver(mail())
    found = wait_for(lambda: interaction_of(store, "<m1@example.cn>"), what="the mail in the queue")
    latency = time.monotonic() - sent
    assert found[1] == "queued" and found[2] == "Order 1234 has not arrived"
    assert latency < 5, f"IDLE delivery took {latency:.2f}s"
    wait_for(lambda: "\\Seen" in dovecot.flags().get(1, ""), what="marked seen")
    [(sender, name)] = rows(store, "SELECT sender, sender_name FROM messages WHERE external_id = '<m1@example.cn>'")
    assert (sender, name) == ("li.wei@example.cn", "Li Wei")
    print(f"IDLE delivery latency {latency * 1000:.0f} ms")
