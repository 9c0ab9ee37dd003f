"""Email ingest: 2,000 messages in a real Dovecot mailbox, taken in by a real `cic-engine run`
(parsed, committed, marked \\Seen, checkpointed), against the same run's raw aioimaplib FETCH
rate of the same messages from the same server (one connection, 100 messages per UID FETCH,
nothing else done with them).

Messages are a realistic mix made here: plain text, multipart/alternative with HTML, GBK and
Big5 bodies, and one in ten with a 20 KB attachment.
Also measured, to show where the ceiling is: the engine's MIME parse alone of the same
messages in this process (parse_s), and the ratio that fetching plus parsing alone would give
with nothing stored (ceiling = 1 / (1 + fetch_s / parse_s)).
And the store's own ceiling (bench/_ceiling.py): the same parsed messages written straight
through Engine.ingest_many, 100 to a transaction and two at once, into a fresh database.
Last line: ceiling_ratio (ingested per second / the store's ceiling; goal >= 0.5), ratio
(ingested per second / raw FETCH per second), msgs_s, fetch_s, parse_s, store_s, and
parse_ceiling (the ratio fetch + parse alone could reach).
"""

from __future__ import annotations

import sys
from pathlib import Path

# The repository first (cic_engine, tests), this folder last (its _helpers).
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE] + [str(HERE)]
sys.path.insert(0, str(HERE.parent))

import asyncio  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from email.message import EmailMessage  # noqa: E402

import aioimaplib  # noqa: E402
import psycopg  # noqa: E402
from _ceiling import ceiling_rate  # noqa: E402
from _database import bench_database  # noqa: E402

from cic_engine.adapters.email import contact_fields  # noqa: E402
from cic_engine.mail.mime import parse  # noqa: E402
from cic_engine.models import InboundContact  # noqa: E402
from tests.core.test_run import free_port  # noqa: E402
from tests.mailservers.dovecot import PASSWORD, Dovecot  # noqa: E402

SMOKE = "--smoke" in sys.argv  # make bench-smoke: a tiny run, so that the benchmark cannot rot
ARGS = [a for a in sys.argv[1:] if a != "--smoke"]
MESSAGES = 40 if SMOKE else int(ARGS[0]) if ARGS else 2000
MAILBOX = "support@example.com"


def sample(n: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Customer {n % 300} <customer{n % 300}@example.cn>"
    msg["To"] = MAILBOX
    msg["Subject"] = f"Order {100000 + n} question"
    msg["Message-ID"] = f"<bench-{n}@example.cn>"
    kind = n % 4
    if kind == 0:
        msg.set_content(f"Hello,\n\nmy order {100000 + n} has not arrived yet. Could you check?\n\nThanks\n" * 3)
    elif kind == 1:
        msg.set_content("Plain version of the message.\n" * 5)
        msg.add_alternative("<html><body><p>HTML <b>version</b> of the message.</p>" * 5 + "</body></html>",
                            subtype="html")
    elif kind == 2:
        msg.set_content("您好，我的订单还没有到，请帮忙查一下。谢谢！\n" * 5, charset="gbk")
    else:
        msg.set_content("您好，我的訂單還沒有到，請幫忙查一下。謝謝！\n" * 5, charset="big5")
    if n % 10 == 0:
        msg.add_attachment(os.urandom(20_000), maintype="application", subtype="pdf", filename=f"invoice-{n}.pdf")
    return msg.as_bytes()


def fill(dovecot: Dovecot) -> None:
    imap = dovecot.client()
    for n in range(MESSAGES):
        imap.append("INBOX", None, None, sample(n))
    imap.logout()


async def raw_fetch_rate(port: int) -> float:
    client = aioimaplib.IMAP4(port=port, timeout=60)
    await client.wait_hello_from_server()
    await client.login(MAILBOX, PASSWORD)
    await client.select("INBOX")
    started = time.perf_counter()
    fetched = 0
    for first in range(1, MESSAGES + 1, 100):
        last = min(first + 99, MESSAGES)
        response = await client.uid("fetch", f"{first}:{last}", "(UID RFC822.SIZE BODY.PEEK[])")
        fetched += sum(1 for line in response.lines if isinstance(line, bytearray))
    elapsed = time.perf_counter() - started
    await client.logout()
    assert fetched == MESSAGES, f"fetched {fetched} of {MESSAGES}"
    return MESSAGES / elapsed


def parse_rate() -> float:
    raws = [sample(n) for n in range(MESSAGES)]
    started = time.perf_counter()
    for raw in raws:
        parse(raw, frozenset({MAILBOX}))
    return MESSAGES / (time.perf_counter() - started)


def same_messages() -> list[InboundContact]:
    """What the adapter makes of the mailbox's messages, parsed here."""
    contacts = []
    for n in range(MESSAGES):
        raw = sample(n)
        mail = parse(raw, frozenset({MAILBOX}))
        where = {"folder": "INBOX", "uid": str(n + 1)}
        contacts.append(InboundContact(sender=mail.from_address, **contact_fields(
            mail, len(raw), where, "support", MAILBOX, None, True, None)))
    return contacts


def engine_rate(dovecot: Dovecot, url: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "cic.toml"
        (Path(tmp) / "channels").mkdir()
        config.write_text(f'[database]\nurl = "{url}"\n[web]\nbind = "127.0.0.1:{free_port()}"\n')
        (Path(tmp) / "channels" / "support.toml").write_text(
            f'kind = "email"\naddress = "{MAILBOX}"\n[imap]\nhost = "127.0.0.1"\nport = {dovecot.port}\n'
            f'security = "none"\nusername = "{MAILBOX}"\npassword = "{PASSWORD}"\n')
        profile = ["-m", "cProfile", "-o", os.environ["CIC_BENCH_PROFILE"]] if os.environ.get("CIC_BENCH_PROFILE") else []
        engine = subprocess.Popen([sys.executable, *profile, "-m", "cic_engine", "run", "--config", str(config)],
                                  stdout=subprocess.PIPE, stderr=open(os.environ.get("CIC_BENCH_LOG", os.devnull), "a"), text=True)
        try:
            while "ready" not in (engine.stdout.readline() or "ready"):
                pass
            with psycopg.connect(url, autocommit=True) as conn:
                count = "SELECT count(*) FROM messages WHERE channel = 'email'"
                started = None
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    n = conn.execute(count).fetchone()[0]
                    if started is None and n > 0:
                        started = time.perf_counter()  # the first message is in: the adapter is reading
                        first = n
                    if n >= MESSAGES:
                        break
                    time.sleep(0.01)
                elapsed = time.perf_counter() - started
                assert conn.execute(count).fetchone()[0] == MESSAGES
        finally:
            engine.terminate()
            engine.wait(timeout=30)
    seen = dovecot.flags()
    assert sum("\\Seen" in f for f in seen.values()) == MESSAGES, "not every message was marked seen"
    return (MESSAGES - first) / elapsed


def main() -> None:
    dovecot = Dovecot().start()
    try:
        fill(dovecot)
        fetch = asyncio.run(raw_fetch_rate(dovecot.port))
        parsing = parse_rate()
        with bench_database() as url:
            ingest = engine_rate(dovecot, url)
    finally:
        dovecot.remove()
    store = ceiling_rate(same_messages())
    print(f"{MESSAGES} messages: raw aioimaplib FETCH {fetch:.0f}/s, engine ingest {ingest:.0f}/s "
          "(parsed, committed, marked \\Seen, checkpointed)")
    print(f"MIME parse alone {parsing:.0f}/s: fetch + parse with nothing stored could reach at most "
          f"ratio {1 / (1 + fetch / parsing):.2f}")
    print(f"store ceiling (the same messages through Engine.ingest_many, 100 a transaction, two at once): {store:.0f}/s")
    print(f"ceiling_ratio={ingest / store:.2f} ratio={ingest / fetch:.2f} msgs_s={ingest:.0f} fetch_s={fetch:.0f} "
          f"parse_s={parsing:.0f} store_s={store:.0f} parse_ceiling={1 / (1 + fetch / parsing):.2f}")


if __name__ == "__main__":
    main()
