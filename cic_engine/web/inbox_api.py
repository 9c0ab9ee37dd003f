"""The agent inbox's JSON API. Every route names the roles it needs (access.py), and every
interaction, customer and file is checked against what the caller may see
(store/visibility.py): one not visible answers 404, as one that does not exist, so ids cannot
be probed."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from werkzeug.wrappers import Request, Response

from ..cases.service import Actor, Cases
from ..engine import Engine
from ..identity import InvalidIdentity
from ..models import Channel, IdentityKind, safe_filename
from ..replies import Replies, ReplyFile, ReplyRefused
from ..routing.service import Routing, RoutingError
from ..store import Store
from ..store import inbox as store_inbox
from ..store import visibility as store_visibility
from ..store.customers import CustomerNotFound, IdentityTaken
from ..store.sessions import Principal
from .access import AGENTS, ANY_LOGIN, PUBLIC, current
from .app import HttpError, WebApp, read_json
from .auth import Auth, me

MAX_TEXT = 20_000
MAX_REPLY_FILES = 10
MAX_REPLY_FILE_BYTES = 10 * 1024 * 1024


class InboxApi:
    def __init__(self, store: Store, auth: Auth, engine: Engine, routing: Routing, replies: Replies,
                 cases: Cases | None = None):
        self.store = store
        self.auth = auth
        self.engine = engine
        self.routing = routing
        self.replies = replies
        self.cases = cases

    def mount(self, app: WebApp) -> None:
        app.route("/api/login", self.auth.login, ("POST",), allow=PUBLIC)
        app.route("/api/logout", self.auth.logout, ("POST",), allow=PUBLIC)
        app.route("/api/me", self.get_me, allow=ANY_LOGIN)
        app.route("/api/me/state", self.set_state, ("POST",), allow=AGENTS)
        app.route("/api/work", self.get_work, allow=AGENTS)
        app.route("/api/interactions/<int:interaction_id>", self.get_interaction, allow=AGENTS)
        app.route("/api/interactions/<int:interaction_id>/accept", self.accept, ("POST",), allow=AGENTS)
        app.route("/api/interactions/<int:interaction_id>/reject", self.reject, ("POST",), allow=AGENTS)
        app.route("/api/interactions/<int:interaction_id>/reply", self.reply, ("POST",), allow=AGENTS)
        app.route("/api/interactions/<int:interaction_id>/note", self.note, ("POST",), allow=AGENTS)
        app.route("/api/interactions/<int:interaction_id>/transfer", self.transfer, ("POST",), allow=AGENTS)
        app.route("/api/interactions/<int:interaction_id>/end", self.end, ("POST",), allow=AGENTS)
        app.route("/api/interactions/<int:interaction_id>/wrap-up", self.wrap_up, ("POST",), allow=AGENTS)
        app.route("/api/interactions/<int:interaction_id>/canned", self.canned, allow=AGENTS)
        app.route("/api/attachments/<int:attachment_id>", self.attachment, allow=AGENTS)
        app.route("/api/search", self.search, allow=AGENTS)
        app.route("/api/customers/<int:customer_id>/identities", self.add_identity, ("POST",), allow=AGENTS)
        app.route("/api/customers/<int:customer_id>/preferred-channel", self.preferred_channel, ("POST",), allow=AGENTS)

    # Who and how ---------------------------------------------------------------------------

    def get_me(self, request: Request) -> tuple[int, Any]:
        principal = current(request)
        status = self.routing.status(principal.agent_id)
        return 200, {**me(principal), "state": status.state, "presence": status.presence,
                     "away_reason": status.away_reason, "away_reasons": self.engine.cic.routing.away_reasons,
                     "queues": sorted(q.name for q in self.engine.cic.queues),
                     "dispositions": self.engine.cic.inbox.dispositions,
                     # Channels a reply may switch to: only those with an adapter that sends.
                     "reply_channels": [c for c in ("email", "sms") if self.replies.adapter_for(c) is not None],
                     # The inbox registers itself as the agent's phone (POST /api/me/sip).
                     "softphone": self.engine.cic.softphone.ws_url is not None}

    def set_state(self, request: Request) -> tuple[int, Any]:
        principal = current(request)
        body = read_json(request)
        state = body.get("state")
        try:
            if state == "available":
                self.routing.set_available(principal.agent_id)
            elif state == "away":
                self.routing.set_away(principal.agent_id, str(body.get("reason") or ""))
            elif state == "offline":
                self.routing.set_offline(principal.agent_id)
            else:
                raise HttpError(400, "state must be available, away or offline")
        except RoutingError as exc:
            raise HttpError(400, str(exc)) from None
        return self.get_me(request)

    def get_work(self, request: Request) -> tuple[int, Any]:
        principal = current(request)
        with self.store.transaction() as conn:
            return 200, store_inbox.work(conn, principal.agent_id)

    # One interaction -----------------------------------------------------------------------

    def _visible(self, principal: Principal, interaction_id: int) -> None:
        require_visible(self.store, principal, interaction_id)

    def get_interaction(self, request: Request, interaction_id: int) -> tuple[int, Any]:
        principal = current(request)
        self._visible(principal, interaction_id)
        after = request.args.get("after", 0, type=int) or 0
        with self.store.transaction() as conn:
            view = store_inbox.interaction(conn, interaction_id)
            if view is None:
                raise HttpError(404, f"no interaction {interaction_id}")
            messages = store_inbox.messages(conn, interaction_id, after)
            events = store_inbox.events(conn, interaction_id)
            history = store_inbox.customer_history(conn, principal, view["customer_id"])
        try:
            customer = self.engine.get_customer(view["customer_id"]).model_dump(mode="json")
        except CustomerNotFound:
            customer = None
        # Screen pop: the customer's open cases and where they stand.
        cases = self.cases.open_for_customer(Actor.of(principal), view["customer_id"]) if self.cases is not None else []
        return 200, {"interaction": view, "customer": customer, "messages": messages, "events": events,
                     "history": history, "cases": cases}

    def accept(self, request: Request, interaction_id: int) -> tuple[int, Any]:
        principal = current(request)
        return act(lambda: self.routing.accept(interaction_id, principal.agent_id))

    def reject(self, request: Request, interaction_id: int) -> tuple[int, Any]:
        principal = current(request)
        return act(lambda: self.routing.reject(interaction_id, principal.agent_id))

    def end(self, request: Request, interaction_id: int) -> tuple[int, Any]:
        principal = current(request)
        return act(lambda: self.routing.end(interaction_id, principal.agent_id))

    def wrap_up(self, request: Request, interaction_id: int) -> tuple[int, Any]:
        principal = current(request)
        disposition = read_json(request).get("disposition")
        codes = self.engine.cic.inbox.dispositions
        if codes and disposition not in codes:
            raise HttpError(400, f"pick a disposition: {', '.join(codes)}")
        if disposition is not None and (not isinstance(disposition, str) or len(disposition) > 100):
            raise HttpError(400, "disposition must be a short text")
        return act(lambda: self.routing.complete_wrap_up(interaction_id, principal.agent_id, disposition))

    def transfer(self, request: Request, interaction_id: int) -> tuple[int, Any]:
        principal = current(request)
        body = read_json(request)
        queue = body.get("queue")
        to_agent = body.get("agent")
        if not isinstance(queue, str):
            raise HttpError(400, "queue is required")
        to_agent_id = None
        if to_agent:
            try:
                to_agent_id = self.routing.agent_id(str(to_agent))
            except RoutingError as exc:
                raise HttpError(400, str(exc)) from None
        return act(lambda: self.routing.transfer(interaction_id, principal.agent_id, queue, to_agent_id,
                                                       actor=principal.login))

    def reply(self, request: Request, interaction_id: int) -> tuple[int, Any]:
        principal = current(request)
        self._holds(principal, interaction_id)
        # Files travel base64 in the JSON: a third bigger than they are, hence the larger limit.
        body = read_json(request, limit=MAX_REPLY_FILES * MAX_REPLY_FILE_BYTES * 4 // 3 + 1024 * 1024)
        files = _files(body)
        text = _text(body) if not files or body.get("text") else ""
        channel = body.get("channel")
        if channel is not None and channel not in ("voice", "email", "sms", "chat", "fax"):
            raise HttpError(400, f"unknown channel {channel!r}")
        try:
            outbox_id = self.replies.reply(interaction_id, text, agent_id=principal.agent_id, channel=channel,
                                           files=files)
        except ReplyRefused as exc:
            raise HttpError(409, str(exc)) from None
        return 202, {"outbox_id": outbox_id}

    def note(self, request: Request, interaction_id: int) -> tuple[int, Any]:
        principal = current(request)
        self._visible(principal, interaction_id)
        text = _text(read_json(request))
        self.routing.note(interaction_id, "note", agent_id=principal.agent_id, data={"text": text},
                          actor=principal.login)
        return 201, {"ok": True}

    def canned(self, request: Request, interaction_id: int) -> tuple[int, Any]:
        """The configured canned responses with this interaction's placeholders filled in."""
        principal = current(request)
        self._visible(principal, interaction_id)
        with self.store.transaction() as conn:
            view = store_inbox.interaction(conn, interaction_id)
        assert view is not None
        values = {"customer_name": view["customer_name"] or "", "agent_name": principal.name,
                  "ticket": str(interaction_id), "queue": view["queue"] or "", "channel": view["channel"]}
        return 200, [{"name": c.name, "text": c.text.format(**values)} for c in self.engine.cic.inbox.canned]

    def search(self, request: Request) -> tuple[int, Any]:
        principal = current(request)
        text = (request.args.get("q") or "").strip()
        if len(text) < 2:
            raise HttpError(400, "search for at least 2 characters")
        with self.store.transaction() as conn:
            return 200, store_inbox.search(conn, principal, text[:200])

    def add_identity(self, request: Request, customer_id: int) -> tuple[int, Any]:
        """An address the customer gives the agent (the caller's email), added to their profile."""
        principal = current(request)
        self._customer_visible(principal, customer_id)
        body = read_json(request)
        kind, value = body.get("kind"), body.get("value")
        if kind not in ("phone", "email") or not isinstance(value, str):
            raise HttpError(400, "kind (phone or email) and value are required")
        try:
            customer = self.engine.add_identity(customer_id, IdentityKind(kind), value, actor=principal.login)
        except InvalidIdentity as exc:
            raise HttpError(400, str(exc)) from None
        except IdentityTaken:
            # Which customer holds it is not said: that would tell an agent about a customer
            # they may not see.
            raise HttpError(409, f"that {kind} belongs to another customer; a supervisor can merge the two") from None
        except CustomerNotFound as exc:
            raise HttpError(404, str(exc)) from None
        return 201, customer.model_dump(mode="json")

    def preferred_channel(self, request: Request, customer_id: int) -> tuple[int, Any]:
        principal = current(request)
        self._customer_visible(principal, customer_id)
        channel = read_json(request).get("channel")
        if channel is not None and channel not in ("email", "sms", "chat", "voice", "fax"):
            raise HttpError(400, "channel must be email, sms, chat, voice, fax or null")
        try:
            self.engine.set_preferred_channel(customer_id, Channel(channel) if channel else None,
                                              actor=principal.login)
        except CustomerNotFound as exc:
            raise HttpError(404, str(exc)) from None
        return 200, {"ok": True}

    def attachment(self, request: Request, attachment_id: int) -> Response:
        principal = current(request)
        with self.store.transaction() as conn:
            found = store_inbox.attachment(conn, attachment_id)
            if found is None or not store_visibility.interaction(conn, principal, found[0]):
                raise HttpError(404, f"no attachment {attachment_id}")
        _, filename, content_type, content, derived = found
        if derived and content_type == "application/pdf" and request.args.get("view") == "inline":
            # A fax's pages, rendered by the engine as images in a PDF (no scripts, no forms): shown in place.
            response = Response(content, content_type="application/pdf")
            response.headers.set("Content-Disposition", "inline", filename=filename)
            response.headers.set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'self'")
            response.headers.set("X-Frame-Options", "SAMEORIGIN")
            return response
        # Otherwise a download, never rendered: a customer's HTML or SVG must not run in our origin.
        response = Response(content, content_type="application/octet-stream")
        response.headers.set("Content-Disposition", "attachment", filename=filename)
        return response

    def _customer_visible(self, principal: Principal, customer_id: int) -> None:
        with self.store.transaction() as conn:
            if not store_visibility.customer(conn, principal, customer_id):
                raise HttpError(404, f"no customer {customer_id}")

    def _holds(self, principal: Principal, interaction_id: int) -> None:
        self._visible(principal, interaction_id)
        state, agent = self.routing.state(interaction_id)
        if agent != principal.agent_id or state not in ("active", "wrap_up"):
            raise HttpError(409, f"interaction {interaction_id} is not yours to answer (it is {state})")


def require_visible(store: Store, principal: Principal, interaction_id: int) -> None:
    """404 for an interaction the principal may not see, as for one that does not exist."""
    with store.transaction() as conn:
        if not store_visibility.interaction(conn, principal, interaction_id):
            raise HttpError(404, f"no interaction {interaction_id}")


def act(action) -> tuple[int, Any]:
    """Run a routing operation for a request: one it refuses answers 409 with its reason."""
    try:
        action()
    except RoutingError as exc:
        raise HttpError(409, str(exc)) from None
    return 200, {"ok": True}


def _files(body: dict) -> list[ReplyFile]:
    """The reply's attachments: [{"filename", "content_type", "content" (base64)}]."""
    given = body.get("files") or []
    if not isinstance(given, list) or len(given) > MAX_REPLY_FILES:
        raise HttpError(400, f"files must be a list of at most {MAX_REPLY_FILES}")
    files = []
    for item in given:
        if not isinstance(item, dict) or not isinstance(item.get("filename"), str) \
                or not isinstance(item.get("content"), str) or not 0 < len(item["filename"]) <= 200:
            raise HttpError(400, "each file needs a filename (up to 200 characters) and base64 content")
        try:
            content = base64.b64decode(item["content"], validate=True)
        except (binascii.Error, ValueError):
            raise HttpError(400, f"{item['filename']}: content is not base64") from None
        if not content or len(content) > MAX_REPLY_FILE_BYTES:
            raise HttpError(413, f"{item['filename']}: empty, or over {MAX_REPLY_FILE_BYTES // 1024 // 1024} MB")
        content_type = item.get("content_type") if isinstance(item.get("content_type"), str) else ""
        files.append(ReplyFile(safe_filename(item["filename"]),
                               content_type[:100] or "application/octet-stream", content))
    return files


def _text(body: dict) -> str:
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        raise HttpError(400, "text is required")
    if len(text) > MAX_TEXT:
        raise HttpError(413, f"text over {MAX_TEXT} characters")
    return text
