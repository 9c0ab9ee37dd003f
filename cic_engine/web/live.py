"""Live pushes over WebSockets: the agent inbox's event stream, and typing notices between an
agent and a chatting customer. The socket only tells the page that something changed; the
page reads what changed through the API, where every read is checked."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import gevent
from werkzeug.wrappers import Request

from ..routing.events import EVENTS_CHANNEL, EventListener, RoutingEvent
from ..store import Store
from ..store import agents as store_agents
from ..store import inbox as store_inbox
from ..store import visibility as store_visibility
from ..store.sessions import Principal
from .access import AGENTS, current
from .app import TAKEN, HttpError, WebApp
from .auth import COOKIE, Auth
from .websocket import WebSocket, WebSocketRefused

log = logging.getLogger(__name__)
TYPING_EVENT = "chat.typing"
RECHECK_S = 30.0


def same_origin(request: Request) -> bool:
    """A browser always sends Origin on a WebSocket; one from another site is a hijack attempt
    riding on the agent's cookie."""
    origin = request.headers.get("Origin")
    return origin is not None and origin.split("://", 1)[-1] == request.host


def notify_typing(store: Store, interaction_id: int, who: str) -> None:
    """Typing is not recorded; it only travels, to whichever node holds the other side."""
    payload = {"event": TYPING_EVENT, "at": datetime.now(UTC).isoformat(), "interaction_id": interaction_id,
               "data": {"who": who}}
    with store.transaction() as conn:
        conn.execute("SELECT pg_notify(%s, %s)", (EVENTS_CHANNEL, json.dumps(payload)))


class AgentStream:
    """GET /api/live: the inbox's WebSocket. It sends {"type": "event", ...} for what concerns
    the agent (their offers, state, and anything on the interactions they hold) and takes
    {"type": "typing", "interaction_id": n} for an interaction they hold."""

    def __init__(self, store: Store, auth: Auth, events: EventListener, disconnected_after_s: float = 60.0):
        self.store = store
        self.auth = auth
        self.events = events
        self.disconnected_after_s = disconnected_after_s

    def mount(self, app: WebApp) -> None:
        app.route("/api/live", self.serve, websocket=True, allow=AGENTS)

    def serve(self, request: Request):
        principal = current(request)
        if not same_origin(request):
            raise HttpError(403, "WebSocket from another origin refused")
        try:
            ws = WebSocket(request.environ)
        except WebSocketRefused as exc:
            raise HttpError(400, str(exc)) from None
        token = request.cookies.get(COOKIE)
        Session(self.store, principal, ws, lambda: self.auth.principal_of(token),
                Presence(self.store, self.auth.clock, principal.agent_id, self.disconnected_after_s)).run(self.events)
        return TAKEN


class Presence:
    """While an inbox socket is open, the agent is here: their `live_until` moves forward every
    third of the grace. Once no socket has done so for the whole grace (a closed lid, a lost
    network, a tab shut without logging out), the router sets them away (disconnected)."""

    def __init__(self, store: Store, clock, agent_id: int, grace_s: float):
        self.store, self.clock, self.agent_id, self.grace_s = store, clock, agent_id, grace_s

    def beat(self) -> None:
        try:
            with self.store.transaction() as conn:
                store_agents.alive(conn, self.agent_id, self.clock.now() + timedelta(seconds=self.grace_s))
        except Exception as exc:  # noqa: BLE001 - the next beat tries again; the socket goes on
            log.warning("agent %s: presence not recorded: %s", self.agent_id, exc)

    def keep(self, ws: WebSocket) -> None:
        while not ws.closed:
            self.beat()
            gevent.sleep(self.grace_s / 3)


class Session:
    """One inbox socket. The login is checked again on every message from the page and every
    RECHECK_S: a logout, an expiry or a changed role ends the socket."""

    def __init__(self, store: Store, principal: Principal, ws: WebSocket, still: Callable[[], Principal | None],
                 presence: Presence | None = None):
        self.store = store
        self.presence = presence
        self.principal = principal
        self.ws = ws
        self.still = still
        self.holding: set[int] = set()
        self._refreshing: gevent.Greenlet | None = None
        # A supervisor hears the events of what they may see: interactions of their queues and
        # their agents (an admin everything), each looked up once.
        self._sees: dict[tuple[str, int], bool] = {}

    def run(self, events: EventListener) -> None:
        self._refresh()
        unsubscribe = events.subscribe(self._on_event)
        checker = gevent.spawn(self._recheck)
        beating = gevent.spawn(self.presence.keep, self.ws) if self.presence is not None else None
        try:
            self.ws.send(json.dumps({"type": "hello", "agent_id": self.principal.agent_id}))
            while (raw := self.ws.receive()) is not None:
                if not self._still_valid():
                    break
                self._on_message(raw)
        finally:
            checker.kill(block=False)
            if beating is not None:
                beating.kill(block=False)
            unsubscribe()
            self.ws.close(4401, "logged out")

    def _still_valid(self) -> bool:
        now = self.still()
        if now is None or now.roles != self.principal.roles:
            self.ws.close(4401, "the login ended; log in again")
            return False
        return True

    def _recheck(self) -> None:
        while not self.ws.closed:
            gevent.sleep(RECHECK_S)
            if not self._still_valid():
                return

    def _refresh(self) -> None:
        with self.store.transaction() as conn:
            work = store_inbox.work(conn, self.principal.agent_id)
        self.holding = {w["id"] for w in work["offers"] + work["mine"]}

    def _on_event(self, event: RoutingEvent) -> None:
        mine = event.agent_id == self.principal.agent_id
        if not (mine or event.interaction_id in self.holding):
            if self.principal.supervises and event.event.startswith(("interaction.", "agent.")):
                gevent.spawn(self._supervised, event)  # looking up what they see may wait on the database
            return
        if mine and event.interaction_id is not None and event.interaction_id not in self.holding:
            self.holding.add(event.interaction_id)  # a new offer: its messages concern the agent now
        if mine and (self._refreshing is None or self._refreshing.dead):
            self._refreshing = gevent.spawn(self._refresh)  # an offer, an end, a transfer: re-read what is held
        self._send(event)

    def _send(self, event: RoutingEvent) -> None:
        self.ws.send(json.dumps({"type": "event", "event": event.event, "interaction_id": event.interaction_id,
                                 "agent_id": event.agent_id, "data": event.data}, default=str))

    def _supervised(self, event: RoutingEvent) -> None:
        case_id = event.data.get("case_id")
        if isinstance(case_id, int):
            key = ("case", case_id)
        elif event.interaction_id is not None:
            key = ("interaction", event.interaction_id)
        elif event.agent_id is not None:
            key = ("agent", event.agent_id)
        else:
            return
        if key not in self._sees:
            checks = {"case": store_visibility.case, "interaction": store_visibility.interaction,
                      "agent": store_visibility.agent}
            with self.store.transaction() as conn:
                self._sees[key] = checks[key[0]](conn, self.principal, key[1])
        if self._sees[key] and not self.ws.closed:
            self._send(event)

    def _on_message(self, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            self.ws.send(json.dumps({"type": "error", "error": "not JSON"}))
            return
        if not isinstance(message, dict):
            return
        if message.get("type") == "typing" and message.get("interaction_id") in self.holding:
            notify_typing(self.store, int(message["interaction_id"]), "agent")
        elif message.get("type") == "ping":
            self.ws.send(json.dumps({"type": "pong"}))
        else:
            self.ws.send(json.dumps({"type": "error", "error": f"unknown message type {message.get('type')!r}"}))
