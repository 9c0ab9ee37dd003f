"""The cases API: agents open a case from an interaction they can see; departments work their
own cases (status, notes, a question to the customer, resolution); everyone's view of a case
is checked by Cases.visible, so a department user never reaches another department's case or
an interaction outside their cases."""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Request

from ..cases.service import Actor, CaseRefused, Cases
from ..store import Store
from ..store import inbox as store_inbox
from ..store import visibility as store_visibility
from .access import AGENTS, CASE_ROLES, current
from .app import HttpError, WebApp, read_json
from .inbox_api import MAX_TEXT


class CasesApi:
    def __init__(self, store: Store, cases: Cases):
        self.store = store
        self.cases = cases

    def mount(self, app: WebApp) -> None:
        app.route("/api/interactions/<int:interaction_id>/cases", self.open, ("POST",), allow=AGENTS)
        app.route("/api/cases", self.listing, allow=CASE_ROLES)
        app.route("/api/cases/<int:case_id>", self.view, allow=CASE_ROLES)
        app.route("/api/cases/<int:case_id>/status", self.status, ("POST",), allow=CASE_ROLES)
        app.route("/api/cases/<int:case_id>/note", self.note, ("POST",), allow=CASE_ROLES)
        app.route("/api/cases/<int:case_id>/ask", self.ask, ("POST",), allow=CASE_ROLES)
        app.route("/api/cases/<int:case_id>/resolve", self.resolve, ("POST",), allow=CASE_ROLES)
        app.route("/api/case-categories", self.categories, allow=CASE_ROLES)

    def categories(self, request: Request) -> tuple[int, Any]:
        settings = self.cases.settings
        return 200, {"categories": [{"name": c.name, "title": c.title, "department": c.department}
                                    for c in settings.categories], "severities": settings.severities}

    def open(self, request: Request, interaction_id: int) -> tuple[int, Any]:
        principal = current(request)
        with self.store.transaction() as conn:
            if not store_visibility.interaction(conn, principal, interaction_id):
                raise HttpError(404, f"no interaction {interaction_id}")
        body = read_json(request)
        category, severity = body.get("category"), body.get("severity") or "normal"
        if not isinstance(category, str) or not isinstance(severity, str):
            raise HttpError(400, "category (and optionally severity) are required")
        case_id = case_action(lambda: self.cases.open(Actor.of(principal), interaction_id, category,
                                                      _text(body, "description"), severity))
        return 201, {"id": case_id}

    def listing(self, request: Request) -> tuple[int, Any]:
        principal = current(request)
        closed = request.args.get("closed") == "1"
        return 200, self.cases.listing(Actor.of(principal), include_closed=closed)

    def view(self, request: Request, case_id: int) -> tuple[int, Any]:
        principal = current(request)
        view = case_action(lambda: self.cases.view(Actor.of(principal), case_id))
        with self.store.transaction() as conn:
            # What the customer and the contact center said, for the people working the case.
            view["messages"] = [m for i in view["interactions"] for m in store_inbox.messages(conn, i)]
        return 200, view

    def status(self, request: Request, case_id: int) -> tuple[int, Any]:
        principal = current(request)
        body = read_json(request)
        to = body.get("status")
        if not isinstance(to, str):
            raise HttpError(400, "status is required")
        note = body.get("note") if isinstance(body.get("note"), str) and body.get("note").strip() else None
        case_action(lambda: self.cases.move(Actor.of(principal), case_id, to, note))
        return 200, {"ok": True}

    def note(self, request: Request, case_id: int) -> tuple[int, Any]:
        principal = current(request)
        text = _text(read_json(request), "text")
        case_action(lambda: self.cases.note(Actor.of(principal), case_id, text))
        return 201, {"ok": True}

    def ask(self, request: Request, case_id: int) -> tuple[int, Any]:
        principal = current(request)
        question = _text(read_json(request), "question")
        case_action(lambda: self.cases.ask_customer(Actor.of(principal), case_id, question))
        return 200, {"ok": True}

    def resolve(self, request: Request, case_id: int) -> tuple[int, Any]:
        principal = current(request)
        resolution = _text(read_json(request), "resolution")
        case_action(lambda: self.cases.resolve(Actor.of(principal), case_id, resolution))
        return 200, {"ok": True}


def case_action(action):
    """What a case action returns; a refusal (not visible, not allowed, not valid) as its answer."""
    try:
        return action()
    except CaseRefused as exc:
        raise HttpError(exc.status, str(exc)) from None


def _text(body: dict, key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        raise HttpError(400, f"{key} is required")
    if len(value) > MAX_TEXT:
        raise HttpError(413, f"{key} over {MAX_TEXT} characters")
    return value.strip()
