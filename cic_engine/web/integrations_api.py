"""What an admin does for the company's other systems, from a logged-in browser: API tokens
(made with their scopes; the token is shown once and only its hash is kept; revoked at once),
webhook subscriptions (which events go where, signed with which secret), and the delivery log
with a replay of any delivery."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from werkzeug.wrappers import Request

from ..clock import Clock
from ..store import Store
from ..store import integrations as store_integrations
from ..webhooks import EVENTS
from .access import ADMINS, SCOPES, current
from .app import BIGINT_MAX, HttpError, WebApp, read_json
from .auth import new_api_token

DELIVERY_STATES = ("pending", "sending", "sent", "failed")


class IntegrationsApi:
    def __init__(self, store: Store, clock: Clock):
        self.store = store
        self.clock = clock

    def mount(self, app: WebApp) -> None:
        app.route("/api/admin/tokens", self.tokens, allow=ADMINS)
        app.route("/api/admin/tokens", self.create_token, ("POST",), allow=ADMINS)
        app.route("/api/admin/tokens/<int:token_id>/revoke", self.revoke_token, ("POST",), allow=ADMINS)
        app.route("/api/admin/webhooks", self.subscriptions, allow=ADMINS)
        app.route("/api/admin/webhooks", self.subscribe, ("POST",), allow=ADMINS)
        app.route("/api/admin/webhooks/<int:subscription_id>/active", self.set_active, ("POST",), allow=ADMINS)
        app.route("/api/admin/webhooks/deliveries", self.deliveries, allow=ADMINS)
        app.route("/api/admin/webhooks/deliveries/<int:delivery_id>/replay", self.replay, ("POST",), allow=ADMINS)

    # Tokens ------------------------------------------------------------------------------------

    def tokens(self, request: Request) -> tuple[int, Any]:
        with self.store.transaction() as conn:
            return 200, {"tokens": store_integrations.tokens(conn), "scopes": SCOPES}

    def create_token(self, request: Request) -> tuple[int, Any]:
        body = read_json(request, limit=16 * 1024)
        name, scopes = _name(body), body.get("scopes")
        if not isinstance(scopes, list) or not scopes or not all(isinstance(s, str) and s in SCOPES for s in scopes):
            raise HttpError(400, f"scopes must be a list of: {', '.join(SCOPES)}")
        token, hashed = new_api_token()
        with self.store.transaction() as conn:
            token_id = store_integrations.create_token(conn, name, hashed, sorted(set(scopes)),
                                                       current(request).agent_id, self.clock.now())
        if token_id is None:
            raise HttpError(409, f"an integration named {name!r} has a token; revoke it or choose another name")
        return 201, {"id": token_id, "name": name, "scopes": sorted(set(scopes)), "token": token,
                     "note": "the token is shown only now; keep it in the integration's secret store"}

    def revoke_token(self, request: Request, token_id: int) -> tuple[int, Any]:
        with self.store.transaction() as conn:
            if not store_integrations.revoke_token(conn, token_id, self.clock.now()):
                raise HttpError(404, f"no live token {token_id}")
        return 200, {"ok": True}

    # Webhooks ----------------------------------------------------------------------------------

    def subscriptions(self, request: Request) -> tuple[int, Any]:
        with self.store.transaction() as conn:
            return 200, {"subscriptions": store_integrations.subscriptions(conn), "events": EVENTS}

    def subscribe(self, request: Request) -> tuple[int, Any]:
        body = read_json(request, limit=16 * 1024)
        name, url, events = _name(body), body.get("url"), body.get("events")
        if not isinstance(url, str) or len(url) > 2000 or urlsplit(url).scheme not in ("http", "https") \
                or not urlsplit(url).hostname:
            raise HttpError(400, "url must be an http:// or https:// address")
        if not isinstance(events, list) or not events or not all(e in EVENTS for e in events):
            raise HttpError(400, f"events must be a list of: {', '.join(EVENTS)}")
        secret = body.get("secret") or secrets.token_urlsafe(32)
        if not isinstance(secret, str) or not 16 <= len(secret) <= 200:
            raise HttpError(400, "secret must be 16 to 200 characters (or left out: one is made)")
        with self.store.transaction() as conn:
            subscription_id = store_integrations.subscribe(conn, name, url, secret, sorted(set(events)),
                                                           current(request).agent_id, self.clock.now())
        return 201, {"id": subscription_id, "secret": secret,
                     "note": "check X-CIC-Signature: hex HMAC-SHA256 of '<X-CIC-Timestamp>.<body>' with this secret"}

    def set_active(self, request: Request, subscription_id: int) -> tuple[int, Any]:
        active = read_json(request).get("active")
        if not isinstance(active, bool):
            raise HttpError(400, "active must be true or false")
        with self.store.transaction() as conn:
            if not store_integrations.set_active(conn, subscription_id, active):
                raise HttpError(404, f"no webhook subscription {subscription_id}")
        return 200, {"ok": True}

    def deliveries(self, request: Request) -> tuple[int, Any]:
        state = request.args.get("state") or None
        if state is not None and state not in DELIVERY_STATES:
            raise HttpError(400, f"state must be one of {', '.join(DELIVERY_STATES)}")
        subscription, before = _id_arg(request, "subscription"), _id_arg(request, "before")
        with self.store.transaction() as conn:
            return 200, {"deliveries": store_integrations.deliveries(conn, subscription, state, before)}

    def replay(self, request: Request, delivery_id: int) -> tuple[int, Any]:
        with self.store.transaction() as conn:
            new_id = store_integrations.replay(conn, delivery_id, self.clock.now())
        if new_id is None:
            raise HttpError(404, f"no webhook delivery {delivery_id}")
        return 201, {"id": new_id, "replay_of": delivery_id}


def _name(body: dict) -> str:
    name = body.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        raise HttpError(400, "name is required (at most 100 characters)")
    return name.strip()


def _id_arg(request: Request, key: str) -> int | None:
    value = request.args.get(key)
    if not value:
        return None
    if not value.isdigit() or int(value) > BIGINT_MAX:
        raise HttpError(400, f"{key} must be an id")
    return int(value)
