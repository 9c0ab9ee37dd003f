"""Mail that once stopped a mailbox for good, between two ordinary mails, through real Dovecot
and `cic-engine run`: a text part holding NUL (UTF-16 labelled Latin-1 decodes to NULs, which
PostgreSQL refuses) and multiparts nested a thousand deep (over the parser's recursion). The
ordinary mails arrive at once, the bad ones are on record with their reason, every message is
marked read, and the mailbox stays healthy."""

from __future__ import annotations

import base64
import re
import urllib.request

from tests.core.test_run import get_health
from tests.rejecting import cli, refusing, rejected
from tests.waiting import wait_for

HEAD = "From: {sender}\r\nTo: support@example.com\r\nSubject: {subject}\r\nMessage-ID: <{id}@example.org>\r\n" \
       "Date: Fri, 04 Dec 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"


def ordinary(n: int) -> bytes:
    return (HEAD.format(sender=f"customer{n}@example.org", subject=f"Order {n}", id=f"plain{n}") +
            "Content-Type: text/plain; charset=utf-8\r\n\r\nWhere is my order?\r\n").encode()


def with_nul() -> bytes:
    utf16 = "Invoice attached, please check".encode("utf-16-le")  # labelled Latin-1: every other byte is NUL
    return (HEAD.format(sender="nul@example.org", subject="Invoice", id="nul").encode() +
            b"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
            base64.b64encode(utf16) + b"\r\n")


def nested(depth: int = 1000) -> bytes:
    body = "".join(f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n' for i in range(depth))
    body += "Content-Type: text/plain\r\n\r\nthe bottom\r\n" + "".join(f"--b{i}--\r\n" for i in reversed(range(depth)))
    return (HEAD.format(sender="deep@example.org", subject="Deep", id="deep") + body).encode()


def watching(store) -> bool:
    with store.transaction() as conn:
        return conn.execute("SELECT 1 FROM adapter_checkpoints WHERE adapter = 'support'").fetchone() is not None


def message(store, external_id: str):
    with store.transaction() as conn:
        return conn.execute(
            """SELECT p.body, m.metadata ->> 'problems',
                      ARRAY(SELECT filename FROM attachments f WHERE f.message_id = m.id ORDER BY f.seq)
               FROM messages m JOIN message_parts p ON p.message_id = m.id AND p.seq = 1
               WHERE m.external_id = %s""", (external_id,)).fetchone()


def test_poison_mail_between_ordinary_mail_stops_nothing(start_mail_engine, dovecot, store, tmp_path):
    start_mail_engine()
    wait_for(lambda: watching(store), what="engine watching")
    for raw in (ordinary(1), with_nul(), nested(), ordinary(2)):
        dovecot.deliver(raw)
    for n in (1, 2):
        body, problems, _ = wait_for(lambda n=n: message(store, f"<plain{n}@example.org>"), timeout=10,
                                     what=f"ordinary mail {n}")
        assert body == "Where is my order?\n" and problems is None
    body, problems, _ = wait_for(lambda: message(store, "<nul@example.org>"), what="the NUL mail on record")
    assert body.startswith("Invoice attached, please check")  # the NULs removed, the text kept and "NUL characters, which cannot be stored; they were removed" in problems
    body, problems, files = wait_for(lambda: message(store, "<deep@example.org>"), what="the deep mail on record")
    assert files == ["message.eml"] and "nested too deeply" in problems and "attached whole" in body
    wait_for(lambda: len([f for f in dovecot.flags().values() if "\\Seen" in f]) == 4, what="all four marked read")
    port = int(re.search(r'bind = "127\.0\.0\.1:(\d+)"', (tmp_path / "cic.toml").read_text()).group(1))
    status, health = get_health(port)
    assert status == 200 and health["adapters"]["support"]["ok"] is True



def test_mail_the_database_refuses_is_recorded_as_rejected_and_reingested_by_hand(
        start_mail_engine, dovecot, store, tmp_path):
    """Whatever still cannot be stored (here a rule in the database stands for any data error
    nobody foresaw) is on record as rejected with its bytes and reason, marked read upstream,
    shown to supervisors and in the metrics; after the fix, `cic-engine reingest ID` brings it
    to the inbox once."""
    config = tmp_path / "cic.toml"
    with refusing(store, "messages", "NEW.external_id = '<refused@example.org>'") as lift:
        start_mail_engine()
        wait_for(lambda: watching(store), what="engine watching")
        refused = (HEAD.format(sender="refused@example.org", subject="Refund please", id="refused") +
                   "Content-Type: text/plain\r\n\r\nPlease refund order 7.\r\n").encode()
        for raw in (ordinary(1), refused, ordinary(2)):
            dovecot.deliver(raw)
        for n in (1, 2):
            wait_for(lambda n=n: message(store, f"<plain{n}@example.org>"), timeout=10, what=f"ordinary mail {n}")
        [(rejected_id, channel, adapter, reason, source, raw)] = wait_for(lambda: rejected(store),
                                                                          what="the refused mail on record")
        assert (channel, adapter) == ("email", "support") and bytes(raw) == refused
        assert reason.startswith("CheckViolation: value refused by a rule this test added")
        assert source["from"] == "refused@example.org" and source["subject"] == "Refund please"
        assert source["folder"] == "INBOX" and message(store, "<refused@example.org>") is None
        wait_for(lambda: len([f for f in dovecot.flags().values() if "\\Seen" in f]) == 3, what="all marked read")
        port = int(re.search(r'bind = "127\.0\.0\.1:(\d+)"', (tmp_path / "cic.toml").read_text()).group(1))
        status, health = get_health(port)
        assert status == 200 and health["adapters"]["support"]["ok"] is True
        assert health["adapters"]["support"]["detail"]["rejected"] == 1
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            assert 'cic_rejected_contacts{adapter="support",channel="email"} 1.0' in response.read().decode()
        listing = cli(config, "rejected")
        assert f"#{rejected_id} " in listing.stdout and "CheckViolation" in listing.stdout

        still = cli(config, "reingest", str(rejected_id))  # not fixed yet: refused again, with the reason
        assert still.returncode == 1 and "still cannot be taken in: CheckViolation" in still.stderr

        lift(store, "messages")
        done = cli(config, "reingest", str(rejected_id))
        assert done.returncode == 0, done.stderr
        body, _, _ = message(store, "<refused@example.org>")
        assert body == "Please refund order 7.\n" and "re-ingested: interaction" in done.stdout
        again = cli(config, "reingest", str(rejected_id))
        assert again.returncode == 1 and "no rejected contact" in again.stderr
        listing = cli(config, "rejected")
        assert listing.stdout.strip() == "no rejected contacts wait"
