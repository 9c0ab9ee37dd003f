"""The softphone's two doors: a logged-in agent's browser gets a short-lived SIP credential
(POST /api/me/sip), and FreeSWITCH asks who such a user is when the browser registers or calls
(mod_xml_curl, section directory: POST /freeswitch/directory). The switch checks the digest
against the a1 hash the engine answers with, so the password itself is only ever in the page
that asked for it, for credential_ttl_s.

The SIP user is the agent's login, as for a desk phone: the voice adapter rings the browser with
the same `user/<login>` dial string. An agent may hold several credentials at once (two tabs, a
renewal); when the switch asks to check a digest, the engine answers with the credential whose
hash makes that digest."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from xml.sax.saxutils import quoteattr

from werkzeug.wrappers import Request, Response

from ..clock import Clock
from ..settings.softphone import SoftphoneSection
from ..store import Store
from ..store import sip as store_sip
from .access import AGENTS, SIGNED, current
from .app import HttpError, WebApp

NOT_FOUND = ('<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
             '<document type="freeswitch/xml"><section name="result"><result status="not found"/></section></document>\n')


def a1_hash(username: str, domain: str, password: str) -> str:
    """What SIP digest authentication checks (RFC 2617's HA1)."""
    return hashlib.md5(f"{username}:{domain}:{password}".encode()).hexdigest()  # noqa: S324 - the digest's own


def ice_servers(section: SoftphoneSection, login: str, expires: datetime) -> list[dict[str, Any]]:
    """STUN as configured; TURN with a credential coturn checks against its shared secret
    (use-auth-secret: the user name is "<expiry>:<login>", the password its HMAC-SHA1), so a
    relay credential lapses with the SIP one."""
    servers: list[dict[str, Any]] = [{"urls": section.stun_urls}] if section.stun_urls else []
    secret = os.environ.get(section.turn_secret_env, "")
    if section.turn_urls and secret:
        username = f"{int(expires.timestamp())}:{login}"
        credential = base64.b64encode(hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()).decode()
        servers.append({"urls": section.turn_urls, "username": username, "credential": credential})
    return servers


def digest_matches(a1: str, form) -> bool:
    """Whether the digest the switch is checking (its sip_auth_* fields) was made with this
    credential (RFC 2617 section 3.2.2.1). A lookup that checks nothing (a call to the user)
    matches no credential in particular."""
    response, nonce = form.get("sip_auth_response"), form.get("sip_auth_nonce")
    if not response or not nonce:
        return False
    md5 = lambda text: hashlib.md5(text.encode()).hexdigest()  # noqa: E731, S324 - the digest's own
    a2 = md5(f"{form.get('sip_auth_method', '')}:{form.get('sip_auth_uri', '')}")
    qop = form.get("sip_auth_qop")
    if qop:
        expected = md5(f"{a1}:{nonce}:{form.get('sip_auth_nc', '')}:{form.get('sip_auth_cnonce', '')}:{qop}:{a2}")
    else:
        expected = md5(f"{a1}:{nonce}:{a2}")
    return hmac.compare_digest(expected, response)


class SoftphoneApi:
    def __init__(self, store: Store, clock: Clock, settings: Callable[[], SoftphoneSection]):
        self.store = store
        self.clock = clock
        self.settings = settings

    def mount(self, app: WebApp) -> None:
        app.route("/api/me/sip", self.credential, ("POST",), allow=AGENTS)
        app.route("/freeswitch/directory", self.directory, ("POST",), allow=SIGNED)

    def credential(self, request: Request) -> tuple[int, Any]:
        principal = current(request)
        section = self.settings()
        if section.ws_url is None:
            raise HttpError(409, "no softphone is set up ([softphone] ws_url in cic.toml)")
        username = principal.login
        password = secrets.token_urlsafe(18)
        now = self.clock.now()
        expires = now + timedelta(seconds=section.credential_ttl_s)
        with self.store.transaction() as conn:
            store_sip.issue(conn, username, principal.agent_id, section.domain,
                            a1_hash(username, section.domain, password), now, expires)
        return 201, {"username": username, "password": password, "domain": section.domain,
                     "ws_url": section.ws_url, "expires_at": expires,
                     "ice_servers": ice_servers(section, principal.login, expires)}

    def directory(self, request: Request) -> Response:
        section = self.settings()
        secret = os.environ.get(section.directory_secret_env, "")
        given = request.authorization.password if request.authorization else None
        if not secret or given is None or not hmac.compare_digest(given.encode(), secret.encode()):
            raise HttpError(401, "the switch's directory requests need the shared secret (basic auth)")
        form = request.form
        found = None
        if form.get("section") == "directory" and form.get("user") and form.get("domain") == section.domain:
            with self.store.transaction() as conn:
                users = store_sip.valid(conn, form["user"], section.domain, self.clock.now())
            found = next((u for u in users if digest_matches(u.a1_hash, form)), users[0] if users else None)
        if found is None:
            return Response(NOT_FOUND, content_type="text/xml")
        user, domain = quoteattr(found.username), quoteattr(section.domain)
        body = (
            '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
            '<document type="freeswitch/xml"><section name="directory">'
            f'<domain name={domain}><user id={user}>'
            f'<params><param name="a1-hash" value={quoteattr(found.a1_hash)}/>'
            # A browser hears what it can decode: the switch offers these, not the caller's codec.
            # A browser that stops sending audio is gone: media_timeout ends its leg.
            '<param name="dial-string" value="{presence_id=${dialed_user}@${dialed_domain},'
            f"absolute_codec_string='{section.codecs}',media_timeout={section.media_timeout_s * 1000}}}"
            '${sofia_contact(${dialed_user}@${dialed_domain})}"/></params>'
            f'<variables><variable name="cic_agent_login" value={quoteattr(found.login)}/>'
            '<variable name="user_context" value="default"/></variables>'
            '</user></domain></section></document>\n')
        return Response(body, content_type="text/xml")
