"""The softphone's credentials: a logged-in agent's browser gets a SIP user that lasts
credential_ttl_s, and FreeSWITCH (mod_xml_curl) learns its digest hash from the engine with a
shared secret; expired, logged-out or unknown users are "not found" to the switch."""

from __future__ import annotations

import base64
import hashlib
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime

import psycopg
import pytest

SECRET = "the-switch-directory-secret"
SOFTPHONE = '[softphone]\nws_url = "ws://127.0.0.1:5066"\ndomain = "cic.test"\n'


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - SIP digest's own


def digest(user: str, password: str, domain: str = "cic.test") -> dict[str, str]:
    """The sip_auth_* fields the switch sends when it checks a REGISTER's digest (qop=auth)."""
    nonce, cnonce, nc, uri = "4f1c9e", "0a4f113b", "00000001", f"sip:{domain}"
    a1, a2 = md5(f"{user}:{domain}:{password}"), md5(f"REGISTER:{uri}")
    return {"sip_auth_username": user, "sip_auth_realm": domain, "sip_auth_nonce": nonce, "sip_auth_uri": uri,
            "sip_auth_qop": "auth", "sip_auth_cnonce": cnonce, "sip_auth_nc": nc, "sip_auth_method": "REGISTER",
            "sip_auth_response": md5(f"{a1}:{nonce}:{nc}:{cnonce}:auth:{a2}")}


def ask(web, user: str, secret: str | None = SECRET, domain: str = "cic.test",
        checking: dict[str, str] | None = None) -> tuple[int, str]:
    """A directory request as mod_xml_curl sends it (form fields, basic auth)."""
    body = urllib.parse.urlencode({"section": "directory", "tag_name": "domain", "key_name": "name",
                                   "key_value": domain, "user": user, "domain": domain, "action": "sip_auth",
                                   **(checking or {})}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if secret is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(f"freeswitch:{secret}".encode()).decode()
    request = urllib.request.Request(web.base + "/freeswitch/directory", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture
def phone_web(start_web, monkeypatch):
    monkeypatch.setenv("CIC_SWITCH_DIRECTORY_SECRET", SECRET)
    return start_web(cic_extra=SOFTPHONE)


def test_an_agent_gets_a_short_lived_sip_user_the_switch_can_check(phone_web):
    alice = phone_web.api().login("alice")
    status, sip = alice.call("POST", "/api/me/sip", {})
    assert status == 201
    assert (sip["ws_url"], sip["domain"]) == ("ws://127.0.0.1:5066", "cic.test")
    # The browser is the agent's phone: its SIP user is the login, dialled as user/alice.
    assert sip["username"] == "alice" and len(sip["password"]) >= 24
    status, xml = ask(phone_web, "alice", checking=digest("alice", sip["password"]))
    assert status == 200
    a1 = md5(f"alice:cic.test:{sip['password']}")
    assert f'<param name="a1-hash" value="{a1}"/>' in xml
    assert '<variable name="cic_agent_login" value="alice"/>' in xml
    assert sip["password"] not in xml  # the switch gets the hash, never the password
    # A second tab (or a renewal) holds another credential: the switch checking either digest
    # is answered with the hash that makes it, so both register.
    second = alice.call("POST", "/api/me/sip", {})[1]
    assert second["password"] != sip["password"]
    for cred in (sip, second):
        xml = ask(phone_web, "alice", checking=digest("alice", cred["password"]))[1]
        assert f'value="{md5("alice:cic.test:" + cred["password"])}"' in xml
    # A guessed password matches neither: the switch gets a hash, and its check fails.
    xml = ask(phone_web, "alice", checking=digest("alice", "guess"))[1]
    assert md5("alice:cic.test:guess") not in xml


def test_the_switch_hears_not_found_for_expired_unknown_or_logged_out_users_and_401_without_the_secret(phone_web):
    alice = phone_web.api().login("alice")
    sip = alice.call("POST", "/api/me/sip", {})[1]
    assert ask(phone_web, sip["username"], secret=None)[0] == 401
    assert ask(phone_web, sip["username"], secret="guess")[0] == 401
    assert 'status="not found"' in ask(phone_web, "bob")[1]  # bob asked for no credential
    assert 'status="not found"' in ask(phone_web, sip["username"], domain="other.test")[1]
    with psycopg.connect(phone_web.db_url, autocommit=True) as conn:
        conn.execute("UPDATE sip_credentials SET expires_at = now() - interval '1 second' WHERE username = %s",
                     (sip["username"],))
    assert 'status="not found"' in ask(phone_web, sip["username"])[1]
    fresh = alice.call("POST", "/api/me/sip", {})[1]
    assert 'a1-hash' in ask(phone_web, fresh["username"])[1]
    alice.call("POST", "/api/logout", {})
    assert 'status="not found"' in ask(phone_web, fresh["username"])[1]  # logged out: void at once
    assert phone_web.api().call("POST", "/api/me/sip", {})[0] == 401


def test_without_a_softphone_the_agent_is_told_so(web):
    assert web.api().login("alice").call("POST", "/api/me/sip", {}) == (
        409, {"error": "no softphone is set up ([softphone] ws_url in cic.toml)"})


def test_the_pages_may_reach_the_softphones_switch(phone_web):
    import urllib.request

    with urllib.request.urlopen(phone_web.base + "/", timeout=10) as page:
        assert "connect-src 'self' ws://127.0.0.1:5066;" in page.headers["Content-Security-Policy"]


def test_without_a_softphone_the_pages_connect_to_the_engine_only(web):
    import urllib.request

    with urllib.request.urlopen(web.base + "/", timeout=10) as page:
        assert "connect-src 'self';" in page.headers["Content-Security-Policy"]


def test_the_switch_rings_a_browser_with_codecs_it_speaks_and_drops_a_silent_one(phone_web):
    alice = phone_web.api().login("alice")
    alice.call("POST", "/api/me/sip", {})
    xml = ask(phone_web, "alice")[1]  # a call to the user: no digest to check
    assert "absolute_codec_string='OPUS,PCMU,PCMA,VP8'" in xml and "media_timeout=10000" in xml
    assert "${sofia_contact(${dialed_user}@${dialed_domain})}" in xml


def test_a_turn_relay_gets_a_credential_that_lapses_with_the_sip_one(start_web, monkeypatch):
    import hmac

    monkeypatch.setenv("CIC_SWITCH_DIRECTORY_SECRET", SECRET)
    monkeypatch.setenv("CIC_TURN_SECRET", "coturn-static-auth-secret")
    web = start_web(cic_extra=SOFTPHONE + 'stun_urls = ["stun:turn.example.com:3478"]\n'
                                          'turn_urls = ["turns:turn.example.com:5349"]\n')
    sip = web.api().login("alice").call("POST", "/api/me/sip", {})[1]
    stun, turn = sip["ice_servers"]
    assert stun == {"urls": ["stun:turn.example.com:3478"]}
    expiry, login = turn["username"].split(":")
    assert login == "alice" and abs(int(expiry) - datetime.fromisoformat(sip["expires_at"]).timestamp()) < 2
    expected = base64.b64encode(hmac.new(b"coturn-static-auth-secret", turn["username"].encode(),
                                         hashlib.sha1).digest()).decode()
    assert turn["credential"] == expected and turn["urls"] == ["turns:turn.example.com:5349"]


def test_a_softphone_setting_that_is_not_a_relay_address_stops_the_engine_with_the_key_named(tmp_path):
    from pydantic import ValidationError

    from cic_engine.settings.softphone import SoftphoneSection

    with pytest.raises(ValidationError) as caught:
        SoftphoneSection.model_validate({"ws_url": "wss://sip.example.com", "turn_urls": ["http://turn.example.com"]})
    assert "turn_urls" in str(caught.value) and "must start with turn: or turns:" in str(caught.value)
