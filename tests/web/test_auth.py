"""Logging in, sessions, roles and who sees what, against a running engine."""

from __future__ import annotations

import urllib.request

import psycopg
import pytest

from tests.web.conftest import PASSWORD
from tests.web.wsclient import Refused, WsClient


def test_login_sets_a_strict_http_only_cookie_and_logout_ends_the_session(web):
    request = urllib.request.Request(web.base + "/api/login", method="POST",
                                     data=b'{"login": "alice", "password": "%s"}' % PASSWORD.encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=20) as response:
        cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie

    api = web.api().login("alice")
    status, me = api.call("GET", "/api/me")
    assert status == 200 and me["login"] == "alice" and me["state"] == "offline"
    assert api.call("POST", "/api/logout", {})[0] == 200
    assert api.call("GET", "/api/me") == (401, {"error": "log in first"})
    # Only the hash of the token is kept: what is in the database cannot be used as a cookie.
    with psycopg.connect(web.db_url) as conn:
        assert conn.execute("SELECT count(*) FROM web_sessions").fetchone()[0] == 1  # the urllib login above


def test_wrong_password_and_unknown_login_get_the_same_answer(web):
    api = web.api()
    wrong = api.call("POST", "/api/login", {"login": "alice", "password": "nope-nope"})
    unknown = api.call("POST", "/api/login", {"login": "mallory", "password": "nope-nope"})
    assert wrong == unknown == (401, {"error": "wrong login or password"})
    assert api.call("POST", "/api/login", {"login": "alice"})[0] == 400


def test_repeated_failed_logins_are_refused_for_a_while(web):
    api = web.api()
    for _ in range(5):
        assert api.call("POST", "/api/login", {"login": "alice", "password": "guess-guess"})[0] == 401
    status, body = api.call("POST", "/api/login", {"login": "alice", "password": PASSWORD})
    assert status == 429 and "too many failed logins" in body["error"]


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/me"), ("GET", "/api/work"), ("GET", "/api/interactions/1"), ("GET", "/api/board"),
    ("POST", "/api/interactions/1/reply"), ("POST", "/api/interactions/1/accept"), ("GET", "/api/attachments/1"),
])
def test_requests_without_a_login_are_refused(web, method, path):
    status, body = web.api().call(method, path, {"text": "hi"} if method == "POST" else None)
    assert (status, body) == (401, {"error": "log in first"})


def test_live_socket_needs_a_login_and_our_own_origin(web):
    with pytest.raises(Refused) as refused:
        WsClient(web.ws_base + "/api/live", origin=web.base)
    assert refused.value.status == 401
    api = web.api().login("alice")
    with pytest.raises(Refused) as refused:
        WsClient(web.ws_base + "/api/live", origin="http://evil.example", cookie=api.cookie)
    assert refused.value.status == 403
    ws = WsClient(web.ws_base + "/api/live", origin=web.base, cookie=api.cookie)
    assert ws.receive()["type"] == "hello"
    ws.close()


def test_supervisor_board_needs_the_supervisor_role(web):
    assert web.api().login("alice").call("GET", "/api/board")[0] == 403
    status, board = web.api().login("sue").call("GET", "/api/board")
    assert status == 200
    # Sue supervises chat and general: she sees their agents, not bob (billing).
    assert {a["login"]: a["state"] for a in board["agents"]} == {"alice": "offline", "sue": "offline"}
    assert web.api().login("alice").call("POST", "/api/agents/bob/state", {"state": "available"})[0] == 403


def test_posts_must_be_json(web):
    api = web.api().login("alice")
    status, body = api.call("POST", "/api/me/state", raw=b"state=available", content_type="application/x-www-form-urlencoded")
    assert status == 415 and "JSON" in body["error"]


def test_an_agent_cannot_read_another_queues_interaction_by_id(web):
    from tests.web.test_chat_socket import start as start_chat

    ws, _ = start_chat(web, name="Chat Customer")
    ws.send({"type": "message", "id": "private-message", "text": "my address is 1 Secret Road"})
    ws.receive_until("ack")
    with psycopg.connect(web.db_url) as conn:
        (interaction_id,) = conn.execute("SELECT id FROM interactions").fetchone()
    bob = web.api().login("bob")  # billing only; the chat is in the chat queue
    assert bob.call("GET", f"/api/interactions/{interaction_id}") == (404, {"error": f"no interaction {interaction_id}"})
    assert bob.call("GET", f"/api/interactions/{interaction_id + 1}") == (404, {"error": f"no interaction {interaction_id + 1}"})
    assert bob.call("POST", f"/api/interactions/{interaction_id}/reply", {"text": "hi"})[0] == 404
    assert bob.call("POST", f"/api/interactions/{interaction_id}/note", {"text": "hi"})[0] == 404
    assert bob.call("POST", f"/api/interactions/{interaction_id}/accept", {})[0] == 409
    for member in ("alice", "sue"):  # a member of the queue, and a supervisor
        status, view = web.api().login(member).call("GET", f"/api/interactions/{interaction_id}")
        assert status == 200 and view["messages"][0]["text"] == "my address is 1 Secret Road"
    # Not even a member may answer what is not theirs.
    status, body = web.api().login("alice").call("POST", f"/api/interactions/{interaction_id}/reply", {"text": "hi"})
    assert status == 409 and "not yours to answer" in body["error"]


def test_logging_out_ends_the_live_socket_at_its_next_message(web):
    api = web.api().login("alice")
    ws = WsClient(web.ws_base + "/api/live", origin=web.base, cookie=api.cookie)
    assert ws.receive()["type"] == "hello"
    cookie = api.cookie
    assert api.call("POST", "/api/logout", {})[0] == 200
    ws.send({"type": "ping"})
    assert ws.receive(timeout=5) is None and ws.closed == 4401
    with pytest.raises(Refused) as refused:
        WsClient(web.ws_base + "/api/live", origin=web.base, cookie=cookie)  # the old cookie is worth nothing now
    assert refused.value.status == 401


def test_passwd_sets_a_new_password_and_logs_the_agent_out(web):
    import subprocess
    import sys

    api = web.api().login("alice")
    config = web.tmp_path / "cic.toml"
    kept = subprocess.run([sys.executable, "-m", "cic_engine", "passwd", "alice", "--config", str(config)],
                          input="a much better secret\n", capture_output=True, text=True, timeout=60)
    # Her hash is in cic.toml: a reload would put it back, so passwd says so instead.
    assert kept.returncode == 1 and "alice's password_hash is in" in kept.stderr
    text = config.read_text()
    at = text.index('login = "alice"')
    hash_line = text.index("password_hash", at)
    config.write_text(text[:hash_line] + text[text.index("\n", hash_line) + 1:])
    short = subprocess.run([sys.executable, "-m", "cic_engine", "passwd", "alice", "--config", str(web.tmp_path / "cic.toml")],
                           input="short\n", capture_output=True, text=True, timeout=60)
    assert short.returncode == 2 and "at least 8 characters" in short.stderr
    done = subprocess.run([sys.executable, "-m", "cic_engine", "passwd", "alice", "--config", str(web.tmp_path / "cic.toml")],
                          input="a much better secret\n", capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert api.call("GET", "/api/me")[0] == 401
    assert web.api().call("POST", "/api/login", {"login": "alice", "password": PASSWORD})[0] == 401
    web.api().login("alice", "a much better secret")
    reloaded = subprocess.run([sys.executable, "-m", "cic_engine", "reload", "--config", str(config)],
                              capture_output=True, text=True, timeout=60)
    assert reloaded.returncode == 0, reloaded.stderr
    web.api().login("alice", "a much better secret")  # the reload kept it
    hashed = subprocess.run([sys.executable, "-m", "cic_engine", "hash-password"], input="another secret\n",
                            capture_output=True, text=True, timeout=60)
    assert hashed.returncode == 0 and hashed.stdout.startswith("$argon2id$")
