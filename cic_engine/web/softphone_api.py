"""The softphone's two doors: a logged-in agent's browser gets a short-lived SIP credential
(POST /api/me/sip), and FreeSWITCH asks who such a user is when the browser registers or calls
(mod_xml_curl, section directory: POST /freeswitch/directory). The switch checks the digest
against the a1 hash the engine answers with, so the password itself is only ever in the page
that asked for it, for credential_ttl_s."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from xml.sax.saxutils import quoteattr

from werkzeug.wrappers import Request, Response

from ..clock import Clock
from ..store import Store
from ..store import sip as store_sip
from .access import AGENTS, SIGNED, current
from .app import HttpError, WebApp
from .softphone_settings import SoftphoneSection

NOT_FOUND = ('<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
             '<document type="freeswitch/xml"><section name="result"><result status="not found"/></section></document>\n')


def a1_hash(username: str, domain: str, password: str) -> str:
    """What SIP digest authentication checks (RFC 2617's HA1)."""
    return hashlib.md5(f"{username}:{domain}:{password}".encode()).hexdigest()  # noqa: S324 - the digest's own


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
        username = f"a{principal.agent_id}-{secrets.token_hex(4)}"
        password = secrets.token_urlsafe(18)
        now = self.clock.now()
        expires = now + timedelta(seconds=section.credential_ttl_s)
        with self.store.transaction() as conn:
            store_sip.issue(conn, username, principal.agent_id, section.domain,
                            a1_hash(username, section.domain, password), now, expires)
        return 201, {"username": username, "password": password, "domain": section.domain,
                     "ws_url": section.ws_url, "expires_at": expires}

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
                found = store_sip.find(conn, form["user"], section.domain, self.clock.now())
        if found is None:
            return Response(NOT_FOUND, content_type="text/xml")
        user, domain = quoteattr(found.username), quoteattr(section.domain)
        body = (
            '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
            '<document type="freeswitch/xml"><section name="directory">'
            f'<domain name={domain}><user id={user}>'
            f'<params><param name="a1-hash" value={quoteattr(found.a1_hash)}/>'
            '<param name="dial-string" value="{presence_id=${dialed_user}@${dialed_domain}}'
            '${sofia_contact(${dialed_user}@${dialed_domain})}"/></params>'
            f'<variables><variable name="cic_agent_login" value={quoteattr(found.login)}/>'
            '<variable name="user_context" value="default"/></variables>'
            '</user></domain></section></document>\n')
        return Response(body, content_type="text/xml")
