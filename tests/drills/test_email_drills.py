"""Email under faults: the engine SIGKILLed while mail flows, Dovecot restarted in the middle of
IDLE, the folder renumbered (UIDVALIDITY). No message lost, none doubled."""

from __future__ import annotations

import signal
import time

import pytest

from tests.email.test_email_channel import interaction_of, mail, rows, wait_for

pytestmark = pytest.mark.timeout(180)


def _watching(store):
    wait_for(lambda: rows(store, "SELECT 1 FROM adapter_checkpoints WHERE adapter = 'support'"), what="engine watching")


def _ingested(store) -> list[str]:
    return [m for (m,) in rows(store, "SELECT external_id FROM messages WHERE channel = 'email' AND direction = 'inbound'")]


def test_engine_killed_while_mail_flows_loses_and_doubles_nothing(start_mail_engine, dovecot, store):
    proc = start_mail_engine()
    _watching(store)
    for n in range(40):
        dovecot.deliver(mail(message_id=f"<k{n}@x>", body=f"message {n}"))
    wait_for(lambda: len(_ingested(store)) >= 10, what="some of the mail ingested")
    proc.send_signal(signal.SIGKILL)  # somewhere between a commit and its \Seen, or elsewhere
    proc.wait()
    start_mail_engine()
    wait_for(lambda: len(_ingested(store)) >= 40, timeout=60, what="all the mail ingested")
    time.sleep(1)
    ids = _ingested(store)
    assert sorted(ids) == sorted(f"<k{n}@x>" for n in range(40))  # each exactly once
    wait_for(lambda: all("\\Seen" in f for f in dovecot.flags().values()), what="every message marked seen")


def test_committed_but_not_marked_seen_is_not_doubled_after_restart(start_mail_engine, dovecot, store):
    """The exact window: the message is committed, then the engine dies before \\Seen and before
    the checkpoint moves. Recreated by undoing both after a clean run."""
    proc = start_mail_engine()
    _watching(store)
    dovecot.deliver(mail())
    wait_for(lambda: interaction_of(store, "<m1@example.cn>"), what="the mail")
    wait_for(lambda: "\\Seen" in dovecot.flags().get(1, ""), what="marked seen")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    imap = dovecot.client()
    imap.select("INBOX")
    imap.uid("STORE", "1", "-FLAGS.SILENT", "(\\Seen)")
    imap.logout()
    with store.transaction() as conn:
        conn.execute("UPDATE adapter_checkpoints SET value = jsonb_set(value, '{last_uid}', '0') WHERE adapter = 'support'")
    start_mail_engine()
    wait_for(lambda: "\\Seen" in dovecot.flags().get(1, ""), what="marked seen after the restart")
    assert _ingested(store) == ["<m1@example.cn>"]
    assert rows(store, "SELECT count(*) FROM interactions") == [(1,)]


def test_dovecot_restarted_mid_idle_loses_and_doubles_nothing(start_mail_engine, dovecot, store):
    start_mail_engine()
    _watching(store)
    dovecot.deliver(mail(message_id="<before@x>"))
    wait_for(lambda: interaction_of(store, "<before@x>"), what="mail before the restart")
    # The engine is in IDLE, or between two commands, on a connection that now dies: Dovecot's
    # whole process group ends, as a restart under systemd ends it, its imap processes with or
    # without a BYE.
    dovecot.restart()
    dovecot.deliver(mail(message_id="<after@x>"))
    # Seen as soon as the connection closes, not when IDLE would have been renewed (5 s) and
    # its DONE gone unanswered (30 s more).
    wait_for(lambda: interaction_of(store, "<after@x>"), timeout=20, what="mail after the restart")
    time.sleep(1)
    assert sorted(_ingested(store)) == ["<after@x>", "<before@x>"]


def test_a_renumbered_folder_is_read_again_without_doubles(start_mail_engine, dovecot, store):
    proc = start_mail_engine()
    _watching(store)
    for n in range(3):
        dovecot.deliver(mail(message_id=f"<u{n}@x>"))
    wait_for(lambda: len(_ingested(store)) == 3, what="three ingested")
    proc.terminate()
    proc.wait()
    with store.transaction() as conn:  # as if the server had given the folder a new UIDVALIDITY
        conn.execute("UPDATE adapter_checkpoints SET value = jsonb_set(value, '{uidvalidity}', '1') "
                     "WHERE adapter = 'support'")
    dovecot.deliver(mail(message_id="<u3@x>"))
    start_mail_engine()
    wait_for(lambda: len(_ingested(store)) == 4, what="the new one ingested")
    time.sleep(1)
    assert sorted(_ingested(store)) == [f"<u{n}@x>" for n in range(4)]
