"""What the public endpoints withstand, probed as an attacker would, against a running engine:
logins guessed at once and from behind one address, a chat claiming someone else's email,
floods of sockets, chats and messages, bodies sent chunked, headers sent a byte at a time,
another site's pages (DNS rebinding, forged posts), and bytes no handler expects."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time

import pytest

from cic_engine.adapters.webchat import visitor_signature
from cic_engine.config import CicConfig
from cic_engine.engine import Engine
from cic_engine.models import Channel, ContentPart, InboundContact
from cic_engine.settings.routing import DEMO_PASSWORD_HASHES
from tests.waiting import wait_for
from tests.web.conftest import HASH, PASSWORD, web_config
from tests.web.test_chat_socket import chat, start
from tests.web.test_inbox_tools import accepted_chat
from tests.web.wsclient import Refused, WsClient

EVIL = "http://evil.example"


def raw_http(port: int, request: bytes, chunks: list[bytes] = (), timeout: float = 20) -> bytes:
    """Send a request as bytes (then `chunks`, each as a chunk of a chunked body, from another
    thread, while the answer is read: a server may answer before the body is all sent)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)

        def send_body() -> None:
            try:
                for chunk in chunks:
                    s.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                s.sendall(b"0\r\n\r\n")
            except OSError:
                pass  # the server answered and closed before taking it all
        sender = threading.Thread(target=send_body, daemon=True)
        if chunks:
            sender.start()
        answer = b""
        try:
            while data := s.recv(65536):
                answer += data
        except ConnectionResetError:
            pass
    return answer


def engine_log(web) -> str:
    return (web.tmp_path / "engine.log").read_text()


# Logins ---------------------------------------------------------------------------------------

def test_concurrent_wrong_passwords_count_at_once_and_lock_only_that_login(web):
    """20 guesses sent together: the limit (5) holds, as if they came one by one. A colleague
    behind the same address (one NAT for the whole floor) still logs in."""
    answers: list[int] = []

    def guess(n: int) -> None:
        answers.append(web.api().call("POST", "/api/login", {"login": "alice", "password": f"guess-{n}"})[0])
    threads = [threading.Thread(target=guess, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == [401] * 5 + [429] * 15
    status, body = web.api().call("POST", "/api/login", {"login": "alice", "password": PASSWORD})
    assert status == 429 and body["error"].startswith("too many failed logins; try again in")
    web.api().login("bob")  # same address, another login: not locked out
    log = engine_log(web)
    assert log.count("failed login for 'alice' from 127.0.0.1") == 5
    assert "login for 'alice' from 127.0.0.1 refused: too many failed logins" in log


def test_the_address_cap_counts_the_real_client_behind_a_trusted_proxy(start_web):
    web = start_web(web_extra='address_login_attempts = 3\ntrusted_proxies = ["127.0.0.1"]\n')

    def wrong(login: str, client: str) -> int:
        return web.api().call("POST", "/api/login", {"login": login, "password": "nope"},
                              headers={"X-Forwarded-For": f"10.9.8.7, {client}"})[0]
    assert [wrong(f"name{n}", "203.0.113.7") for n in range(3)] == [401, 401, 401]
    assert wrong("name4", "203.0.113.7") == 429  # guessing across names from one client: capped
    assert wrong("name5", "198.51.100.9") == 401  # another client behind the same proxy is not
    assert "failed login for 'name0' from 203.0.113.7" in engine_log(web)


def test_the_demo_password_is_refused_beyond_loopback_and_warned_about_on_it(tmp_path, db_url):
    demo = next(iter(DEMO_PASSWORD_HASHES))
    config = web_config(tmp_path, db_url, 18080, cic_extra=f'[[agents]]\nlogin = "dana"\nname = "Dana"\n'
                                                           f'password_hash = "{demo}"\n')

    def check() -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "cic_engine", "check-config", "--config", str(config)],
                              capture_output=True, text=True, timeout=60)
    out = check()
    assert out.returncode == 0
    assert "warning:" in out.stdout and "demo password (cic-demo) still set for dana" in out.stdout
    config.write_text(config.read_text().replace('bind = "127.0.0.1:18080"', 'bind = "0.0.0.0:18080"'))
    out = check()
    assert out.returncode == 2
    assert f"{config}: agents[3].password_hash: dana has the shipped demo password, and [web] bind 0.0.0.0:18080 " \
           "reaches beyond this machine" in out.stderr


def test_the_login_cookie_is_secure_by_default_when_the_engine_is_reachable_from_other_machines(start_web):
    web = start_web(web_extra="")
    config = web.tmp_path / "cic.toml"
    web.proc.terminate()
    web.proc.wait(timeout=30)
    config.write_text(config.read_text().replace('bind = "127.0.0.1:', 'bind = "0.0.0.0:'))
    web.restart()
    api = web.api()
    api.login("alice")
    cookie = next(iter(api.jar))
    assert cookie.secure  # sent over HTTPS only: TLS is at the proxy in front


# The chat widget's email -------------------------------------------------------------------------

def _known_customer(store) -> int:
    """Zhang Wei, who mailed the company last week (answered already: nothing waits)."""
    engine = Engine(store, CicConfig.model_validate({"queues": [{"name": "general"}, {"name": "chat"}]}))
    return engine.ingest(InboundContact(
        channel=Channel.email, endpoint="support@example.com", external_id="<refund@example.org>",
        sender="zhang.wei@example.org", sender_name="Zhang Wei", subject="My salary account number",
        parts=[ContentPart(body="Account 6222 0000 1111")], needs_agent=False, metadata={"adapter": "support"})).customer_id


def test_an_email_typed_into_the_chat_is_a_claim_and_opens_nobodys_profile(web, store):
    known = _known_customer(store)
    alice, interaction_id = accepted_chat(web, name="Zhang Wei", email="zhang.wei@example.org")
    status, view = alice.call("GET", f"/api/interactions/{interaction_id}")
    assert status == 200
    assert view["customer"]["id"] != known  # a chat of its own, not Zhang Wei's profile
    assert [h["id"] for h in view["history"]] == [interaction_id] and "6222" not in json.dumps(view)
    assert view["messages"][0]["claimed_email"] == "zhang.wei@example.org"  # shown as "says they are ..."
    assert [i["kind"] for i in view["customer"]["identities"]] == ["chat"]
    # Nothing is mailed to the claimed address: no transcript, no agent reply by email.
    ws, _ = start(web, name="Zhang Wei", email="zhang.wei@example.org")
    ws.send({"type": "message", "id": "claim-message-1", "text": "hi"})
    ws.receive_until("ack")
    ws.send({"type": "transcript"})
    assert ws.receive_until("error")["code"] == "unverified"
    ws.send({"type": "verify_email"})  # no email channel here: no code can be mailed
    assert ws.receive_until("error")["error"] == "we cannot send mail now, so the address cannot be confirmed"


def test_the_company_site_vouches_for_a_visitor_with_a_signed_token(start_web, store):
    web = start_web(chat_extra='[visitor_secret]\npassword = "site-secret"\n')
    known = _known_customer(store)
    forged = {"user_id": "u-7", "email": "zhang.wei@example.org",
              "signature": visitor_signature("guessed-secret", "u-7", "zhang.wei@example.org")}
    ws = chat(web)
    ws.send({"type": "start", "name": "Zhang Wei", "identity": forged})
    assert ws.receive_until("error") == {"type": "error", "code": "bad-identity",
                                         "error": "the site's identity for this visitor is not valid"}
    signed = {**forged, "signature": visitor_signature("site-secret", "u-7", "zhang.wei@example.org")}
    ws.send({"type": "start", "name": "Zhang Wei", "identity": signed})
    assert ws.receive_until("session")["email_verified"] is True
    ws.send({"type": "message", "id": "vouched-message", "text": "Is my refund done?"})
    ws.receive_until("ack")
    with store.transaction() as conn:
        assert conn.execute("SELECT customer_id FROM interactions WHERE channel = 'chat'").fetchone()[0] == known


# Public chat limits -----------------------------------------------------------------------------

def test_one_address_cannot_flood_the_chat_with_sockets_chats_or_messages(start_web):
    web = start_web(chat_extra="[limits]\nsockets_per_address = 3\nchats_per_minute = 2\n")
    sockets = [chat(web) for _ in range(3)]
    with pytest.raises(Refused) as refused:
        chat(web)
    assert refused.value.status == 429 and b"too many chats open from your network" in refused.value.body
    sockets.pop().sock.close()
    sockets.append(wait_for(lambda: _socket_or_none(web), what="a socket once one closed"))

    for n, ws in enumerate(sockets[:2]):
        ws.send({"type": "start", "name": f"Flooder {n}"})
        ws.receive_until("session")
    sockets[2].send({"type": "start", "name": "Flooder 3"})
    error = sockets[2].receive_until("error")
    assert error["code"] == "rate-limited" and error["error"].startswith("too many new chats from your network")

    ws = sockets[0]  # 25 messages at once: a burst of 10 is taken, the rest asked to come again
    for n in range(25):
        ws.send({"type": "message", "id": f"flood-message-{n:03d}", "text": f"spam {n}"})
    answers = [ws.receive_until("ack", "retry", "nack")["type"] for _ in range(25)]
    assert answers.count("ack") >= 10 and "retry" in answers and "nack" not in answers


def _socket_or_none(web):
    try:
        return chat(web)
    except Refused:
        return None


def test_the_offline_form_is_for_when_the_chat_is_closed(web):
    ws = chat(web)
    ws.send({"type": "offline", "id": "offline-while-open", "name": "Spammer", "email": "x@example.org",
             "text": "buy now"})
    assert ws.receive_until("nack")["error"] == "we are open: start a chat instead of leaving a message"


def test_offline_forms_from_one_address_are_limited(start_web):
    closed = f"""[[queues]]\nname = "closed"\nchannels = ["chat"]\nhours = {{ timezone = "UTC" }}\n""" \
             f"""[[agents]]\nlogin = "carol"\nname = "Carol"\nqueues = ["closed"]\npassword_hash = "{HASH}"\n"""
    web = start_web(chat_queue="closed", cic_extra=closed, chat_extra="[limits]\noffline_forms_per_hour = 2\n")
    answers = []
    for n in range(3):
        ws = chat(web)
        ws.send({"type": "offline", "id": f"offline-form-{n}", "name": "Night Owl", "email": "owl@example.org",
                 "text": f"message {n}"})
        answers.append(ws.receive_until("ack", "nack"))
    assert [a["type"] for a in answers] == ["ack", "ack", "nack"]
    assert answers[2]["error"].startswith("too many messages from your network")


# The HTTP server ---------------------------------------------------------------------------------

def test_a_chunked_body_is_held_to_the_limit_and_not_read_before_the_login_check(web):
    head = (f"POST /api/login HTTP/1.1\r\nHost: 127.0.0.1:{web.port}\r\nContent-Type: application/json\r\n"
            f"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n").encode()
    answer = raw_http(web.port, head, [b"x" * 65536] * 32)  # 2 MiB for a 16 KiB login
    assert answer.startswith(b"HTTP/1.1 413")
    head = head.replace(b"/api/login", b"/api/interactions/1/note")
    started = time.monotonic()
    answer = raw_http(web.port, head, [b"x" * 65536] * 32)
    assert answer.startswith(b"HTTP/1.1 401")  # refused on its headers, before any body is read
    assert time.monotonic() - started < 10


def test_slow_headers_are_cut_off_and_the_server_keeps_serving(start_web):
    web = start_web(web_extra="header_timeout_s = 1\n")
    slow = []
    for _ in range(30):
        s = socket.create_connection(("127.0.0.1", web.port), timeout=10)
        s.sendall(b"GET /api/me HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # ...and the rest never comes
        slow.append(s)
    time.sleep(2.5)
    closed = 0
    for s in slow:
        s.settimeout(2)
        try:
            s.sendall(b"X-Still: here\r\n")
            closed += s.recv(100) == b""
        except (BrokenPipeError, ConnectionResetError):
            closed += 1
        except TimeoutError:
            pass  # still open: not cut off
        s.close()
    assert closed == 30
    assert web.api().call("GET", "/api/me")[0] == 401  # everyone else is still served


# Other sites' pages ------------------------------------------------------------------------------

def test_a_host_name_the_engine_is_not_served_as_is_refused(start_web):
    """DNS rebinding: a page of evil.example, its name now pointing at 127.0.0.1, would reach an
    engine on loopback with its own Host; only IPs, localhost and [web] public_hosts are taken."""
    web = start_web(web_extra='public_hosts = ["cic.example.com"]\n')
    for host, expected in (("evil.example", 421), (f"evil.example:{web.port}", 421), ("localhost", 401),
                           (f"cic.example.com:{web.port}", 401), (f"127.0.0.1:{web.port}", 401)):
        answer = raw_http(web.port, f"GET /api/me HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        assert answer.startswith(f"HTTP/1.1 {expected}".encode()), (host, answer[:80])
    answer = raw_http(web.port, b"POST /api/login HTTP/1.1\r\nHost: evil.example\r\nContent-Type: application/json\r\n"
                                b"Content-Length: 2\r\nConnection: close\r\n\r\n{}")
    assert answer.startswith(b"HTTP/1.1 421")


def test_state_changing_requests_from_another_site_are_refused_body_or_not(web):
    alice = web.api().login("alice")
    for method, path in (("POST", "/api/logout"), ("POST", "/api/interactions/1/end"), ("POST", "/api/me/state"),
                         ("POST", "/api/campaigns/1/start")):
        status, body = alice.call(method, path, headers={"Origin": EVIL})
        assert (status, body["error"]) == (403, f"request from origin {EVIL!r} refused"), path
        status, _ = alice.call(method, path, headers={"Sec-Fetch-Site": "cross-site"})
        assert status == 403, path
    assert alice.call("GET", "/api/me")[0] == 200  # still logged in: the foreign logout did nothing
    status, _ = web.api().call("POST", "/api/login", {"login": "bob", "password": PASSWORD}, headers={"Origin": EVIL})
    assert status == 403  # nor can another site log a victim's browser in as someone else
    status, _ = web.api().call("POST", "/api/login", {"login": "bob", "password": PASSWORD}, headers={"Origin": web.base})
    assert status == 200


# Bytes no handler expects ------------------------------------------------------------------------

def test_nul_deep_json_and_control_characters_in_file_names_get_clear_answers(web):
    alice, interaction_id = accepted_chat(web)
    status, body = alice.call("GET", "/api/search?q=ab%00cd")
    assert (status, body["error"]) == (400, "the address must not contain NUL characters")
    status, body = alice.call("POST", f"/api/interactions/{interaction_id}/note", {"text": "a\u0000b"})
    assert (status, body["error"]) == (400, "text must not contain NUL characters")
    status, body = alice.call("POST", "/api/me/state", raw=b"[" * 7000 + b"]" * 7000)
    assert (status, body["error"]) == (400, "body is nested too deeply")
    # A customer's file named with a CR/LF: stored under a name that cannot split a header.
    ws, _ = start(web, name="File Sender")
    ws.send({"type": "file", "id": "file-with-crlf", "filename": "photo\r\nSet-Cookie: x=1.png",
             "content_type": "image/png", "data": "iVBORw0KGgoAAAANSUhEUg=="})
    ws.receive_until("ack")
    with web_store(web) as conn:
        attachment_id, filename = conn.execute("SELECT id, filename FROM attachments").fetchone()
    assert filename == "photoSet-Cookie: x=1.png"
    sue = web.api().login("sue")
    answer = raw_http(web.port, f"GET /api/attachments/{attachment_id} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                f"Cookie: {sue.cookie}\r\nConnection: close\r\n\r\n".encode())
    head = answer.split(b"\r\n\r\n", 1)[0]
    assert head.startswith(b"HTTP/1.1 200") and b"\r\nSet-Cookie: x=1" not in head


def web_store(web):
    import psycopg
    return psycopg.connect(web.db_url)


# Monitoring --------------------------------------------------------------------------------------

def test_metrics_and_health_detail_are_for_loopback_or_the_token(start_web, monkeypatch):
    monkeypatch.setenv("CIC_TEST_METRICS_TOKEN", "metrics-token-42")
    web = start_web(web_extra='trusted_proxies = ["127.0.0.1"]\nmetrics_token_env = "CIC_TEST_METRICS_TOKEN"\n')
    outside = {"X-Forwarded-For": "203.0.113.7"}  # a client on the internet, through our proxy
    assert web.api().call("GET", "/metrics", headers=outside)[0] == 403
    status, health = web.api().call("GET", "/healthz", headers=outside)
    assert status == 200 and health == {"status": "ok"}
    assert web.api().call("GET", "/metrics", headers={**outside, "Authorization": "Bearer metrics-token-42"})[0] == 200
    assert web.api().call("GET", "/metrics", headers={**outside, "Authorization": "Bearer wrong"})[0] == 403
    status, health = web.api().call("GET", "/healthz")  # on this machine: the detail
    assert status == 200 and "adapters" in health and web.api().call("GET", "/metrics")[0] == 200


def test_ops_masks_every_secret_urls_included(start_web, monkeypatch):
    monkeypatch.setenv("CIC_TEST_SMS_SECRET", "webhook-secret-77")
    sms = ('kind = "sms"\naddress = "+8610655500"\ntransport = "http"\n[http]\n'
           'send_url = "https://sms.example.com/send?api_key=SENDKEY-123&account=ops"\n'
           'password_env = "CIC_TEST_SMS_SECRET"\ntoken = "send-token-99"\n')
    web = start_web(channels={"texts": sms})
    status, ops = web.api().login("sue").call("GET", "/api/ops")
    assert status == 200
    text = json.dumps(ops)
    for secret in ("SENDKEY-123", "send-token-99", "webhook-secret-77", HASH):
        assert secret not in text
    assert ops["config"]["channels"]["texts"]["settings"]["http"]["send_url"] == \
        "https://sms.example.com/send?api_key=********&account=********"


def test_ws_origin_of_the_agent_socket_is_checked(web):
    alice = web.api().login("alice")
    with pytest.raises(Refused) as refused:
        WsClient(web.ws_base + "/api/live", origin=EVIL, cookie=alice.cookie)
    assert refused.value.status == 403
