"""A configuration reload under load: mail flows in and replies flow out while the email
channel is restarted by a reload that changes its settings. Every message in is ingested
exactly once and marked seen; every reply is delivered exactly once."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from cic_engine.replies import Replies
from tests.drills.test_email_drills import _ingested, _watching
from tests.email.test_email_channel import mail, rows, wait_for

pytestmark = pytest.mark.timeout(180)


def test_a_reload_restarting_the_mail_channel_under_load_loses_and_doubles_nothing(
        start_mail_engine, dovecot, smtp, store, tmp_path):
    start_mail_engine()
    _watching(store)
    for n in range(30):
        dovecot.deliver(mail(message_id=f"<r{n}@x>", body=f"message {n}"))
    wait_for(lambda: len(_ingested(store)) >= 5, what="the first mail in")
    replies = Replies(store)
    interactions = [r[0] for r in rows(store, "SELECT DISTINCT interaction_id FROM messages ORDER BY 1")]
    for interaction_id in interactions:
        replies.reply(interaction_id, f"Answer to {interaction_id}")
    adapter = tmp_path / "channels" / "support.toml"
    adapter.write_text(adapter.read_text().replace('signature = "Example Support team"',
                                                   'signature = "Example Support, after the reload"'))
    for n in range(30, 60):
        dovecot.deliver(mail(message_id=f"<r{n}@x>", body=f"message {n}"))
    done = subprocess.run([sys.executable, "-m", "cic_engine", "reload", "--config", str(tmp_path / "cic.toml")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "reloaded: restarted: support", done.stderr
    for n in range(60, 80):
        dovecot.deliver(mail(message_id=f"<r{n}@x>", body=f"message {n}"))
    wait_for(lambda: len(_ingested(store)) >= 80, timeout=90, what="all the mail ingested")
    wait_for(lambda: len(smtp.received) >= len(interactions), timeout=60, what="every reply sent")
    time.sleep(1)
    assert sorted(_ingested(store)) == sorted(f"<r{n}@x>" for n in range(80))  # each exactly once
    wait_for(lambda: all("\\Seen" in f for f in dovecot.flags().values()), what="every message marked seen")
    sent_ids = [m["Message-ID"] for m in smtp.received]
    assert len(sent_ids) == len(set(sent_ids)) == len(interactions)  # each reply exactly once
    assert rows(store, "SELECT count(*) FROM outbox WHERE state <> 'sent'") == [(0,)]
