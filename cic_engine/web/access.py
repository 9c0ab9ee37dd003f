"""Who may call which endpoint, checked once for every request before its handler runs.

Each route names its `allow`:
- a tuple of roles: a logged-in user holding one of them (401 without a login, 403 without
  the role); what they then see of a resource is store/visibility.py's answer;
- PUBLIC: anyone (pages, the chat widget, which checks its own origins and limits);
- SIGNED: a provider's webhook, authenticated by its signature in the handler;
- MONITOR: /metrics and the health detail: clients on loopback, or a bearer token;
- scope(...): the integration API (/api/v1): an API token (Authorization: Bearer) holding that
  scope; a browser's session cookie counts for nothing there.

Before that, for every request: the Host must be one the engine is reached by (a DNS-rebinding
page names its own), no NUL in the path or query, and a state-changing request from a browser
must come from our own origin (login and logout included; webhooks excepted).
"""

from __future__ import annotations

import hmac
import ipaddress
import re
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.wrappers import Request

from .errors import HttpError

AGENTS = ("agent", "supervisor", "admin")
SUPERVISORS = ("supervisor", "admin")
ADMINS = ("admin",)
CASE_ROLES = (*AGENTS, "department")
ANY_LOGIN = CASE_ROLES
PUBLIC = "public"
SIGNED = "signed"
MONITOR = "monitor"
Allow = str | tuple[str, ...]
# What an API token may be allowed, each checked by the routes that need it.
SCOPES = {
    "customers:read": "look customers up by phone or address, read their profile and timeline",
    "customers:write": "change a customer's name, notes, tier and preferred channel",
    "interactions:read": "read interactions and their messages",
    "interactions:write": "create interactions (a contact from another system) and post notes",
    "cases:read": "read cases",
    "cases:write": "open cases and post notes on them",
}
SCOPE_PREFIX = "scope:"
_ROLES = set(CASE_ROLES)
_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
PRINCIPAL_KEY = "cic.principal"
_HOST = re.compile(r"(\[[0-9a-f:.]+\]|[a-z0-9._-]+)(?::\d{1,5})?")
CLIENT_KEY = "cic.client"


def scope(name: str) -> str:
    """The `allow` of an integration API route: a token holding this scope."""
    if name not in SCOPES:
        raise ValueError(f"no scope {name!r}; scopes are {sorted(SCOPES)}")
    return SCOPE_PREFIX + name


def scope_of(allow: Allow) -> str | None:
    return allow[len(SCOPE_PREFIX):] if isinstance(allow, str) and allow.startswith(SCOPE_PREFIX) else None


def check_allow(allow: Allow) -> None:
    if isinstance(allow, tuple) and allow and set(allow) <= _ROLES:
        return
    if scope_of(allow) in SCOPES:
        return
    if allow not in (PUBLIC, SIGNED, MONITOR):
        raise ValueError(f"allow must be roles from {sorted(_ROLES)}, a scope(), PUBLIC, SIGNED or MONITOR, "
                         f"not {allow!r}")


def current(request: Request) -> Any:
    """The principal the checks admitted (routes that name roles only)."""
    return request.environ[PRINCIPAL_KEY]


def client_address(request: Request) -> str:
    """The client's address: the peer's, or behind a trusted proxy the one it forwarded."""
    return request.environ.get(CLIENT_KEY) or request.remote_addr or ""


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


class Guard:
    """The checks every request passes; `authenticate` finds the principal of a request."""

    def __init__(self, public_hosts: Iterable[str] = (), trusted_proxies: Iterable[str] = (),
                 authenticate: Callable[[Request], Any] | None = None, monitor_token: str | None = None,
                 authenticate_token: Callable[[Request], Any] | None = None):
        self.public_hosts = {h.lower() for h in public_hosts}
        self.authenticate_token = authenticate_token
        self.proxies = [ipaddress.ip_network(p, strict=False) for p in trusted_proxies]
        self.authenticate = authenticate
        self.monitor_token = monitor_token

    # For every request --------------------------------------------------------------------

    def arrived(self, request: Request) -> None:
        request.environ[CLIENT_KEY] = self._client(request)
        if not self.host_allowed(request.host):
            raise HttpError(421, f"this engine is not served as {request.host[:100]!r} (see [web] public_hosts)")
        if "\x00" in request.path or any("\x00" in k or "\x00" in v for k, v in request.args.items(multi=True)):
            raise HttpError(400, "the address must not contain NUL characters")

    def host_allowed(self, host: str) -> bool:
        """localhost and IP addresses always (rebinding needs a name); other names when listed."""
        host = host.lower()
        found = _HOST.fullmatch(host)
        if found is None:
            return False
        name = found.group(1)
        return name == "localhost" or _is_ip(name) or host in self.public_hosts or name in self.public_hosts

    def _client(self, request: Request) -> str:
        peer = request.remote_addr or ""
        if not self.proxies or not self._trusted(peer):
            return peer
        hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
        for hop in reversed(hops):  # the right end is what our own proxies appended
            if not _is_ip(hop):
                return peer
            if not self._trusted(hop):
                return hop
        return peer

    def _trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.proxies)

    # For the route ------------------------------------------------------------------------

    def admit(self, request: Request, allow: Allow) -> None:
        needed = scope_of(allow)
        if needed is not None:
            # A bearer token is sent only by code that holds it, never by a browser on its own,
            # so no origin check: an integration is not a page.
            assert self.authenticate_token is not None, "a route names a scope but nothing checks tokens"
            integration = self.authenticate_token(request)
            if needed not in integration.scopes:
                raise HttpError(403, f"this token lacks the {needed} scope",
                                {"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{needed}"'})
            request.environ[PRINCIPAL_KEY] = integration
            return
        if allow != SIGNED and request.method not in _SAFE_METHODS:
            self.same_origin(request)
        if allow == MONITOR:
            if not self.monitors(request):
                raise HttpError(403, "monitoring is for loopback clients or the [web] metrics token")
            return
        if allow in (PUBLIC, SIGNED):
            return
        assert self.authenticate is not None, "a route names roles but nothing authenticates"
        principal = self.authenticate(request)
        if principal is None:
            raise HttpError(401, "log in first")
        if not principal.roles & set(allow):
            raise HttpError(403, f"this needs the {' or '.join(allow)} role")
        request.environ[PRINCIPAL_KEY] = principal

    @staticmethod
    def same_origin(request: Request) -> None:
        """A browser names the page's origin on every state-changing request (and on a
        WebSocket); one from another site is refused. A client that sends neither Origin nor
        Sec-Fetch-Site is not a browser, and carries no victim's cookie."""
        origin = request.headers.get("Origin")
        site = request.headers.get("Sec-Fetch-Site")
        if site == "cross-site" or (origin is not None and origin.split("://", 1)[-1].lower() != request.host.lower()):
            raise HttpError(403, f"request from origin {origin!r} refused")

    def monitors(self, request: Request) -> bool:
        """Monitoring access: a loopback client, or the bearer token."""
        given = request.headers.get("Authorization", "")
        if self.monitor_token and hmac.compare_digest(given.encode(), f"Bearer {self.monitor_token}".encode()):
            return True
        try:
            return ipaddress.ip_address(client_address(request)).is_loopback
        except ValueError:
            return False
