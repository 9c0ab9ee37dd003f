"""The SMS channel through a provider's HTTP API: a real `cic-engine run`, and a real HTTP
server on loopback as the provider (it takes our sends and posts signed webhooks to us)."""

from __future__ import annotations

import json
import socket
import textwrap
import time
import urllib.error
import urllib.request

import pytest

from cic_engine.replies import Replies
from cic_engine.sms.provider import sign
from tests import local_http
from tests.core.test_run import engine_toml, free_port, print_engine_log, start, stop
from tests.local_http import QuietHandler
from tests.rejecting import cli, refusing, rejected
from tests.waiting import wait_for

pytestmark = pytest.mark.timeout(120)
SECRET = "webhook-secret-1234"
TOKEN = "send-token-5678"


class Provider:
    """The provider's send API: records each request, answers with the statuses queued in `answers`."""

    def __init__(self):
        self.requests: list[dict] = []
        self.answers: list[int] = []
        provider = self

        class Handler(QuietHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                provider.requests.append({"path": self.path, "auth": self.headers.get("Authorization"),
                                          "body": json.loads(body)})
                status = provider.answers.pop(0) if provider.answers else 200
                payload = json.dumps({"id": f"prov-{len(provider.requests)}"} if status == 200
                                     else {"error": "number barred"}).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server, base = local_http.serve(Handler)
        self.url = f"{base}/send"

    def stop(self):
        local_http.stop(self.server)


@pytest.fixture
def provider():
    p = Provider()
    yield p
    p.stop()


class Engine:
    def __init__(self, tmp_path, db_url, provider):
        self.tmp_path, self.web = tmp_path, free_port()
        (tmp_path / "channels").mkdir(exist_ok=True)
        (tmp_path / "cic.toml").write_text(engine_toml("sms-http", db_url, self.web) + textwrap.dedent("""\
            [outbox]
            backoff_s = 0.3
            [[queues]]
            name = "general"
            """))
        (tmp_path / "channels" / "text.toml").write_text(textwrap.dedent(f"""\
            kind = "sms"
            address = "+8610690000"
            region = "CN"
            transport = "http"
            [http]
            send_url = "{provider.url}"
            password = "{SECRET}"
            token = "{TOKEN}"
            """))
        self.proc = start(tmp_path / "cic.toml", log=tmp_path / "engine.log")

    def restart(self):
        self.proc = start(self.tmp_path / "cic.toml", log=self.tmp_path / "engine.log")

    def request(self, body: dict, timestamp: str | None = None, signature: str | None = None) -> bytes:
        raw = json.dumps(body).encode()
        timestamp = timestamp or str(int(time.time()))
        signature = signature or sign(SECRET, timestamp, raw)
        return (f"POST /sms/text/inbound HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"X-Timestamp: {timestamp}\r\nX-Signature: {signature}\r\nContent-Length: {len(raw)}\r\n"
                f"Connection: close\r\n\r\n").encode() + raw

    def webhook(self, body: dict, **headers) -> tuple[int, dict]:
        raw = self.request(body, **headers)
        head, _, payload = raw.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")[1:]
        request = urllib.request.Request(f"http://127.0.0.1:{self.web}/sms/text/inbound", data=payload,
                                         headers=dict(line.split(": ", 1) for line in lines if ": " in line))
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())


@pytest.fixture
def engine(tmp_path, db_url, provider):
    e = Engine(tmp_path, db_url, provider)
    yield e
    if e.proc.poll() is None:
        assert stop(e.proc) == 0
    print_engine_log(tmp_path)


def rows(store, sql: str, *args):
    with store.transaction() as conn:
        return conn.execute(sql, args).fetchall()


MO = {"id": "mo-1001", "from": "+8613800138000", "to": "+8610690000", "text": "我的快递到哪了？"}


def test_a_signed_webhook_is_committed_before_its_2xx_and_a_replay_is_not_doubled(engine, store):
    assert engine.webhook(MO) == (200, {"ok": True, "duplicate": False})
    assert rows(store, "SELECT channel, sender FROM messages") == [("sms", "+8613800138000")]  # already committed
    assert engine.webhook(MO) == (200, {"ok": True, "duplicate": True})  # the provider retried
    assert rows(store, "SELECT count(*) FROM messages") == [(1,)]


def test_bad_signature_stale_timestamp_and_bad_body_are_refused(engine, store):
    status, body = engine.webhook({**MO, "id": "forged"}, signature="00" * 32)
    assert (status, body["error"]) == (401, "bad signature")
    old = str(int(time.time()) - 3600)  # a captured webhook played again an hour later
    status, body = engine.webhook({**MO, "id": "late"}, timestamp=old)
    assert status == 401 and "refused as a replay" in body["error"]
    # Signed, so the provider's own: acknowledged (it would be sent forever otherwise) and on record.
    status, body = engine.webhook({"id": "x", "from": "+8613800138000", "to": "+8610690000"})
    assert (status, body["ok"], body["error"]) == (202, False, "field 'text' is missing or empty")
    assert rows(store, "SELECT id, reason FROM rejected_contacts") == [
        (body["rejected"], "WebhookRefused: field 'text' is missing or empty")]
    # Nothing in it to take in: a supervisor takes it off the list; its bytes stay on record.
    done = cli(engine.tmp_path / "cic.toml", "rejected", "--dismiss", str(body["rejected"]))
    assert done.returncode == 0 and rejected(store) == [], done.stderr
    assert rows(store, "SELECT dismissed_by LIKE 'cli:%%' FROM rejected_contacts") == [(True,)]
    # A timestamp of nan is never "too old": refused as not a moment at all.
    status, body = engine.webhook({**MO, "id": "never-stale"}, timestamp="nan",
                                  signature=sign(SECRET, "nan", json.dumps({**MO, "id": "never-stale"}).encode()))
    assert status == 401 and "refused as a replay" in body["error"]
    # A signature header with non-ASCII bytes is a refusal, not a crash.
    with socket.create_connection(("127.0.0.1", engine.web), timeout=10) as s:
        s.sendall(engine.request({**MO, "id": "odd"}, signature="签名"))  # UTF-8 bytes in the header
        answer = b""
        while chunk := s.recv(65536):  # the request said Connection: close
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 401") and b"must be ASCII" in answer
    assert rows(store, "SELECT count(*) FROM messages") == [(0,)]


def test_a_text_holding_nul_is_stored_without_it_and_flagged_and_the_next_is_taken(engine, store):
    assert engine.webhook({**MO, "id": "nul-1", "text": "STOP\u0000 please"})[0] == 200
    assert engine.webhook({**MO, "id": "next-1", "text": "hello"})[0] == 200
    assert rows(store, """SELECT p.body, m.metadata ->> 'problems' FROM messages m
                          JOIN message_parts p ON p.message_id = m.id ORDER BY m.id""") == [
        ("STOP please", "text held NUL characters, which cannot be stored; they were removed"), ("hello", None)]


def test_a_text_the_database_refuses_is_acknowledged_on_record_and_reingested_after_the_fix(engine, store):
    with refusing(store, "message_parts", "NEW.body LIKE '%退款%'") as lift:
        assert engine.webhook({**MO, "id": "before", "text": "hello"})[0] == 200
        status, body = engine.webhook({**MO, "id": "refund", "text": "我要退款"})
        assert (status, body["ok"]) == (202, False) and "refused by a rule" in body["error"]
        assert engine.webhook({**MO, "id": "after", "text": "thanks"})[0] == 200  # the channel goes on
        [(rejected_id, channel, adapter, reason, source, raw)] = rejected(store)
        assert (rejected_id, channel, adapter, source) == (body["rejected"], "sms", "text", {"via": "http"})
        assert json.loads(bytes(raw))["text"] == "我要退款" and reason.startswith("CheckViolation")
        assert engine.webhook({**MO, "id": "refund", "text": "我要退款"})[0] == 202  # the provider retried
        assert len(rejected(store)) == 1  # one record, seen again
        lift(store, "message_parts")
        done = cli(engine.tmp_path / "cic.toml", "reingest", str(rejected_id))
        assert done.returncode == 0, done.stderr
    assert rows(store, """SELECT p.body FROM messages m JOIN message_parts p ON p.message_id = m.id
                          ORDER BY m.id""") == [("hello",), ("thanks",), ("我要退款",)]
    assert engine.webhook({**MO, "id": "refund", "text": "我要退款"}) == (200, {"ok": True, "duplicate": True})


def test_an_http_sms_channel_without_a_webhook_secret_does_not_start(tmp_path, db_url, monkeypatch):
    """Without a secret, an HMAC made with the empty key would pass: anyone could post texts
    (STOP included) as any number. The file is refused, and an empty secret stops the channel."""
    import subprocess
    import sys

    (tmp_path / "channels").mkdir()
    (tmp_path / "cic.toml").write_text(engine_toml("sms-nosecret", db_url) + '[[queues]]\nname = "general"\n')
    text = tmp_path / "channels" / "text.toml"
    text.write_text('kind = "sms"\naddress = "+8610690000"\ntransport = "http"\n'
                    '[http]\nsend_url = "https://sms.example.com/send"\n')
    out = subprocess.run([sys.executable, "-m", "cic_engine", "check-config", "--config", str(tmp_path / "cic.toml")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and f"{text}: (file): Value error, transport 'http' needs the webhook's signing " \
        "secret" in out.stderr
    text.write_text(text.read_text() + 'password_env = "CIC_TEST_EMPTY_SECRET"\n')
    monkeypatch.setenv("CIC_TEST_EMPTY_SECRET", "")
    port = int((tmp_path / "cic.toml").read_text().split('bind = "127.0.0.1:')[1].split('"')[0])
    proc = start(tmp_path / "cic.toml", log=tmp_path / "engine.log")
    try:
        raw = json.dumps(MO).encode()
        timestamp = str(int(time.time()))
        request = urllib.request.Request(f"http://127.0.0.1:{port}/sms/text/inbound", data=raw, headers={
            "Content-Type": "application/json", "X-Timestamp": timestamp, "X-Signature": sign("", timestamp, raw)})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=20)
        assert refused.value.code == 404  # the channel did not start, so nothing takes texts
        health = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=20).read())
        assert "the webhook's signing secret is empty" in health["adapters"]["text"]["last_error"]
    finally:
        assert stop(proc) == 0
    print_engine_log(tmp_path)


def test_the_engine_killed_between_commit_and_2xx_does_not_double_the_providers_retry(engine, store):
    with socket.create_connection(("127.0.0.1", engine.web), timeout=10) as s:
        s.sendall(engine.request(MO))  # the provider's request; it will never see the answer
        wait_for(lambda: rows(store, "SELECT count(*) FROM messages")[0][0] == 1, what="committed")
        engine.proc.kill()
        engine.proc.wait(timeout=30)
    engine.restart()
    assert engine.webhook(MO) == (200, {"ok": True, "duplicate": True})
    assert rows(store, "SELECT count(*) FROM messages") == [(1,)]


def test_replies_go_to_the_provider_retried_on_5xx_and_failed_with_its_reason_on_4xx(engine, store, provider):
    engine.webhook(MO)
    interaction = rows(store, "SELECT id FROM interactions")[0][0]
    provider.answers = [503]
    Replies(store).reply(interaction, 'Your parcel "A-1" leaves today. 今天发出。')
    wait_for(lambda: rows(store, "SELECT state FROM outbox")[0][0] == "sent", what="sent after a retry")
    assert len(provider.requests) == 2
    sent = provider.requests[-1]
    assert sent["auth"] == f"Bearer {TOKEN}"
    assert sent["body"] == {"from": "+8610690000", "to": "+8613800138000",
                            "text": 'Your parcel "A-1" leaves today. 今天发出。', "reference": sent["body"]["reference"]}
    provider.answers = [400]
    second = Replies(store).reply(interaction, "one more")
    wait_for(lambda: rows(store, "SELECT state FROM outbox WHERE id = %s", second)[0][0] == "failed", what="failed")
    assert "provider answered 400" in rows(store, "SELECT last_error FROM outbox WHERE id = %s", second)[0][0]
