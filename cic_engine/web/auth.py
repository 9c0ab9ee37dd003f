"""Logging in and out, sessions, roles, and the login rate limit.

Passwords are argon2 hashes (argon2-cffi). Hashing takes tens of milliseconds of CPU, so it
runs on gevent's thread pool (argon2 releases the GIL) instead of stalling every call and
chat on the node. A browser session is a random token in an HttpOnly, SameSite=Strict cookie;
the database keeps only its sha256.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Callable
from datetime import timedelta

import gevent
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from werkzeug.wrappers import Request, Response

from ..clock import Clock
from ..store import Store
from ..store import integrations as store_integrations
from ..store import sessions as store_sessions
from ..store.integrations import Integration
from ..store.sessions import Principal
from .access import client_address
from .app import HttpError, json_response, read_json
from .limits import RateLimit

log = logging.getLogger(__name__)
COOKIE = "cic_session"
_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _verify(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def _token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class LoginThrottle:
    """At most `limit` failed logins per login name, and `address_limit` per client address
    (over all names), in `window_s`; past either, logins for that name or from there are
    refused until the window has passed. An attempt counts as failed from its start: the
    password check takes tens of milliseconds, and guesses sent at once must not all be
    checked before the first failure is counted. A right password gives its place back."""

    def __init__(self, limit: int, window_s: float, address_limit: int | None = None):
        self.limit = limit
        self.address_limit = address_limit or limit
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def begin(self, login: str, address: str) -> tuple[list[str], float] | float:
        """The attempt's keys and mark when it may go ahead, else the seconds to wait."""
        now = time.monotonic()
        keys = [f"login:{login.lower()}", f"ip:{address}"]
        waits = []
        for key, limit in zip(keys, (self.limit, self.address_limit), strict=True):
            failures = self._failures.get(key)
            if not failures:
                continue
            while failures and failures[0] < now - self.window_s:
                failures.popleft()
            if len(failures) >= limit:
                waits.append(failures[0] + self.window_s - now)
        if waits:
            return max(waits)
        for key in keys:
            self._failures[key].append(now)
        if len(self._failures) > 100_000:  # an attack over many names: forget the oldest entries
            for key in list(self._failures)[:50_000]:
                del self._failures[key]
        return keys, now

    def succeeded(self, keys: list[str], mark: float) -> None:
        self._failures.pop(keys[0], None)
        address = self._failures.get(keys[1])
        if address is not None and mark in address:
            address.remove(mark)


class Auth:
    def __init__(self, store: Store, clock: Clock, ttl_s: float, secure_cookie: bool, throttle: LoginThrottle):
        self.store = store
        self.clock = clock
        self.ttl_s = ttl_s
        self.secure_cookie = secure_cookie
        self.throttle = throttle
        self.left: Callable[[int], None] | None = None  # an agent logged out of their last session
        self._dummy_hash = hash_password(secrets.token_urlsafe(16))

    def login(self, request: Request) -> Response:
        body = read_json(request, limit=16 * 1024)
        login, password = body.get("login"), body.get("password")
        if not isinstance(login, str) or not isinstance(password, str) or not login or not password:
            raise HttpError(400, "login and password are required")
        address = client_address(request)
        attempt = self.throttle.begin(login, address)
        if isinstance(attempt, float):
            log.warning("login for %r from %s refused: too many failed logins", login[:100], address)
            raise HttpError(429, f"too many failed logins; try again in {int(attempt) + 1} s",
                            {"Retry-After": str(int(attempt) + 1)})
        with self.store.transaction() as conn:
            found = store_sessions.password_hash(conn, login)
        # An unknown login costs the same as a wrong password, so timing does not tell which.
        hashed = found[1] if found and found[1] else self._dummy_hash
        ok = gevent.get_hub().threadpool.apply(_verify, (hashed, password[:1024]))
        if not ok or found is None or not found[1]:
            log.warning("failed login for %r from %s", login[:100], address)
            raise HttpError(401, "wrong login or password")
        self.throttle.succeeded(*attempt)
        log.info("login %r from %s", login[:100], address)
        token = secrets.token_urlsafe(32)
        now = self.clock.now()
        with self.store.transaction() as conn:
            store_sessions.create(conn, _token_hash(token), found[0], now, now + timedelta(seconds=self.ttl_s),
                                  request.user_agent.string)
            principal = store_sessions.principal(conn, _token_hash(token), now)
        assert principal is not None
        response = json_response(200, me(principal))
        response.set_cookie(COOKIE, token, max_age=int(self.ttl_s), httponly=True, samesite="Strict",
                            secure=self.secure_cookie, path="/")
        return response

    def logout(self, request: Request) -> Response:
        token = request.cookies.get(COOKIE)
        if token and len(token) <= 200:
            with self.store.transaction() as conn:
                agent_id = store_sessions.end(conn, _token_hash(token), self.clock.now())
            if agent_id is not None and self.left is not None:
                self.left(agent_id)  # nobody is there to take offers any more
        response = json_response(200, {"ok": True})
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="Strict", secure=self.secure_cookie)
        return response

    def principal(self, request: Request) -> Principal | None:
        return self.principal_of(request.cookies.get(COOKIE))

    def principal_of(self, token: str | None) -> Principal | None:
        """Who holds this session token now (None once it expired or was logged out)."""
        if not token or len(token) > 200:
            return None
        with self.store.transaction() as conn:
            return store_sessions.principal(conn, _token_hash(token), self.clock.now())


def me(principal: Principal) -> dict:
    return {"agent_id": principal.agent_id, "login": principal.login, "name": principal.name,
            "roles": sorted(principal.roles)}


TOKEN_PREFIX = "cic_"
_BEARER = "Bearer "


def new_api_token() -> tuple[str, bytes]:
    """A new integration token and the hash kept of it (the token itself is shown once)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, _token_hash(token)


class ApiTokens:
    """Finds the integration an /api/v1 request comes from by its bearer token. Failed tokens
    from one address are limited, so guessing costs the guesser, not the database."""

    def __init__(self, store: Store, clock: Clock, failures: RateLimit | None = None):
        self.store = store
        self.clock = clock
        self.failures = failures or RateLimit(burst=20, per_s=1.0)

    def __call__(self, request: Request) -> Integration:
        given = request.headers.get("Authorization", "")
        challenge = {"WWW-Authenticate": 'Bearer realm="cic-engine"'}
        if not given.startswith(_BEARER):
            raise HttpError(401, "send an API token: Authorization: Bearer <token> (an admin creates them)", challenge)
        token = given[len(_BEARER):].strip()
        found = None
        if token.startswith(TOKEN_PREFIX) and len(token) <= 200:
            with self.store.transaction() as conn:
                found = store_integrations.integration(conn, _token_hash(token), self.clock.now())
        if found is None:
            wait = self.failures.take(client_address(request))
            if wait is not None:
                raise HttpError(429, f"too many bad tokens; try again in {int(wait) + 1} s",
                                {"Retry-After": str(int(wait) + 1)})
            raise HttpError(401, "unknown or revoked API token",
                            {"WWW-Authenticate": 'Bearer realm="cic-engine", error="invalid_token"'})
        return found
