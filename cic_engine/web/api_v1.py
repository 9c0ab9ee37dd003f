"""The integration API, /api/v1: what the company's other systems (CRM, order desk, a channel we
do not run) may read and do, each operation behind a scope of an admin-made API token, never an
agent's cookie. Every body is validated by the model the OpenAPI document shows
(/api/v1/openapi.json, openapi.py); an integration sees every customer, interaction and case,
as the engine does."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator
from werkzeug.wrappers import Request, Response

from .. import __version__
from ..cases.service import Actor, Cases
from ..engine import Engine, IngestRefused
from ..identity import InvalidIdentity
from ..models import Channel, ContentPart, Customer, IdentityKind, InboundContact, Tier, TimelineEvent
from ..routing.service import Routing
from ..store import Store
from ..store import inbox as store_inbox
from ..store.customers import CustomerNotFound
from .access import PUBLIC, current, scope
from .app import HttpError, WebApp, json_response, read_json
from .cases_api import case_action
from .openapi import Operation, document, page

MAX_TEXT = 20_000
Text = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT, pattern=r"\S")]
Name = Annotated[str, StringConstraints(max_length=200)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# Customers -------------------------------------------------------------------------------------

class CustomerQuery(_Body):
    phone: str | None = Field(None, max_length=100, description="a phone number, any way it is written (+8613800138000, 138 0013 8000)")
    email: str | None = Field(None, max_length=320, description="an email address")


class Customers(BaseModel):
    customers: list[Customer] = Field(description="the customer found (none or one)")


class CustomerChange(_Body):
    """Only the fields sent change; null clears a name, notes or preferred channel."""

    display_name: Name | None = None
    notes: Annotated[str, StringConstraints(max_length=MAX_TEXT)] | None = None
    tier: Tier | None = None
    preferred_channel: Channel | None = None


class TimelineQuery(_Body):
    after: int = Field(0, ge=0, le=2**63 - 1, description="only events after this event id (the last one you read)")
    limit: int = Field(100, ge=1, le=500, description="at most this many events")


class Timeline(BaseModel):
    events: list[TimelineEvent] = Field(description="the customer's history on every channel, oldest first")
    next_after: int | None = Field(description="pass as `after` for the next page; null when this was the last")


# Interactions ----------------------------------------------------------------------------------

class NewInteraction(_Body):
    """A contact that reached the company through another system (a form, a messenger we do not
    run): it is queued and worked in the inbox like one of `channel`. Sending the same
    `external_id` again answers the interaction made the first time (200), and writes nothing."""

    channel: Channel = Field(description="the kind of contact it is; replies go out on this channel")
    external_id: Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[!-~]+$")] = Field(
        description="your id for this contact (printable ASCII): makes retries safe")
    phone: str | None = Field(None, max_length=100, description="the customer's phone number (this or email)")
    email: str | None = Field(None, max_length=320, description="the customer's email address (this or phone)")
    name: Name | None = Field(None, description="the customer's name as the other system knows it")
    subject: Annotated[str, StringConstraints(max_length=500)] | None = None
    text: Text = Field(description="what the customer said")
    queue: Name | None = Field(None, description="the queue; the engine's default queue if left out")
    priority: int = Field(0, ge=-1000, le=1000)
    language: Annotated[str, StringConstraints(max_length=20)] | None = Field(None, description="e.g. zh-CN, en")

    @model_validator(mode="after")
    def _one_sender(self) -> NewInteraction:
        if (self.phone is None) == (self.email is None):
            raise ValueError("give the customer's phone or email (one of them)")
        return self


class InteractionCreated(BaseModel):
    interaction_id: int
    customer_id: int
    message_id: int
    duplicate: bool = Field(description="this external_id was taken before; nothing new was written")
    new_customer: bool


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: int
    direction: str = Field(description="inbound (from the customer) or outbound")
    channel: Channel
    sender: str | None
    sender_name: str | None
    recipient: str | None
    subject: str | None
    at: datetime
    text: str


class InteractionSummary(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: int
    channel: Channel
    direction: str
    state: str = Field(description="queued, offered, active, wrap_up or closed")
    queue: str | None
    subject: str | None
    customer_id: int
    assigned_agent: str | None = Field(description="the login of the agent working it")
    disposition: str | None
    created_at: datetime
    last_message_at: datetime


class InteractionView(BaseModel):
    interaction: InteractionSummary
    messages: list[Message]


class Note(_Body):
    text: Text


class Done(BaseModel):
    ok: bool = True


# Cases -----------------------------------------------------------------------------------------

class NewCase(_Body):
    interaction_id: int = Field(ge=1, le=2**63 - 1, description="the interaction the case comes from")
    category: Name = Field(description="one of [cases] categories in cic.toml")
    severity: Name = "normal"
    description: Text


class CaseCreated(BaseModel):
    id: int


class Case(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: int
    customer_id: int
    category: str
    severity: str
    description: str | None
    department: str
    owner: str | None
    status: str
    opened_at: datetime
    due_at: datetime
    resolved_at: datetime | None
    closed_at: datetime | None
    reopened: bool
    sla: str = Field(description="ok, warning, breached, paused or done")
    interactions: list[int]


class IntegrationApi:
    def __init__(self, store: Store, engine: Engine, routing: Routing, cases: Cases):
        self.store = store
        self.engine = engine
        self.routing = routing
        self.cases = cases
        self.operations = [
            Operation("GET", "/api/v1/customers", "customers:read", "Find a customer by phone number or email address",
                      self.find_customers, Customers, query=CustomerQuery, errors=(400,), tag="customers"),
            Operation("GET", "/api/v1/customers/<int:customer_id>", "customers:read", "A customer's profile",
                      self.get_customer, Customer, errors=(404,), tag="customers"),
            Operation("PATCH", "/api/v1/customers/<int:customer_id>", "customers:write",
                      "Change a customer's name, notes, tier or preferred channel", self.change_customer, Customer,
                      body=CustomerChange, errors=(404,), tag="customers"),
            Operation("GET", "/api/v1/customers/<int:customer_id>/timeline", "customers:read",
                      "A customer's history on every channel, a page at a time", self.customer_timeline, Timeline,
                      query=TimelineQuery, errors=(400, 404), tag="customers"),
            Operation("POST", "/api/v1/interactions", "interactions:write",
                      "Create an interaction for a contact from another system", self.create_interaction,
                      InteractionCreated, status=201, body=NewInteraction, errors=(409,), tag="interactions",
                      also={200: (InteractionCreated, "taken before (same external_id): the first answer again")}),
            Operation("GET", "/api/v1/interactions/<int:interaction_id>", "interactions:read",
                      "An interaction and its messages", self.get_interaction, InteractionView, errors=(404,),
                      tag="interactions"),
            Operation("POST", "/api/v1/interactions/<int:interaction_id>/notes", "interactions:write",
                      "Post an internal note on an interaction (agents see it; the customer does not)",
                      self.note_interaction, Done, status=201, body=Note, errors=(404,), tag="interactions"),
            Operation("POST", "/api/v1/cases", "cases:write", "Open a case from an interaction", self.open_case,
                      CaseCreated, status=201, body=NewCase, errors=(404,), tag="cases"),
            Operation("GET", "/api/v1/cases/<int:case_id>", "cases:read", "A case and where it stands", self.get_case,
                      Case, errors=(404,), tag="cases"),
            Operation("POST", "/api/v1/cases/<int:case_id>/notes", "cases:write", "Post a note on a case",
                      self.note_case, Done, status=201, body=Note, errors=(404,), tag="cases"),
        ]
        self.document = document(
            self.operations, "cic-engine integration API", f"1 (engine {__version__})",
            "Read and update customers, create interactions and cases, read timelines and post notes. "
            "Every request carries an API token (Authorization: Bearer cic_...) that an admin created "
            "with the scopes it needs. Errors answer {\"error\": \"...\"}.")

    def mount(self, app: WebApp) -> None:
        for op in self.operations:
            app.route(op.rule, self._serve(op), (op.method,), allow=scope(op.scope))
        app.route("/api/v1/openapi.json", lambda request: (200, self.document), allow=PUBLIC)
        app.route("/api/v1/docs", lambda request: Response(page(self.document), content_type="text/html; charset=utf-8"),
                  allow=PUBLIC)

    def _serve(self, op: Operation):
        def serve(request: Request, **args: Any) -> Response:
            if op.query is not None:
                args["query"] = _valid(op.query, request.args.to_dict())
            if op.body is not None:
                args["body"] = _valid(op.body, read_json(request, limit=256 * 1024))
            status, model = op.handler(request, **args)
            return json_response(status, model.model_dump(mode="json"))
        serve.__name__ = op.operation_id
        return serve

    # Customers ---------------------------------------------------------------------------------

    def find_customers(self, request: Request, query: CustomerQuery) -> tuple[int, Customers]:
        if (query.phone is None) == (query.email is None):
            raise HttpError(400, "ask by phone or by email (one of them)")
        kind, raw = (IdentityKind.phone, query.phone) if query.phone is not None else (IdentityKind.email, query.email)
        try:
            found = self.engine.find_customer(kind, raw)
        except InvalidIdentity as exc:
            raise HttpError(400, f"{kind.value}: {exc}") from None
        return 200, Customers(customers=[found] if found else [])

    def get_customer(self, request: Request, customer_id: int) -> tuple[int, Customer]:
        return 200, self._customer(customer_id)

    def change_customer(self, request: Request, customer_id: int, body: CustomerChange) -> tuple[int, Customer]:
        self._customer(customer_id)
        changes = body.model_dump(mode="json", include=body.model_fields_set)
        if "tier" in changes and changes["tier"] is None:
            raise HttpError(400, "tier cannot be null (standard, silver, gold or vip)")
        try:
            return 200, self.engine.update_customer(customer_id, changes, actor=current(request).login)
        except CustomerNotFound:
            raise HttpError(404, f"no customer {customer_id}") from None

    def customer_timeline(self, request: Request, customer_id: int, query: TimelineQuery) -> tuple[int, Timeline]:
        customer = self._customer(customer_id)
        events = self.engine.customer_history(customer.id, query.limit + 1, query.after)
        more = len(events) > query.limit
        events = events[:query.limit]
        return 200, Timeline(events=events, next_after=events[-1].id if more else None)

    def _customer(self, customer_id: int) -> Customer:
        try:
            return self.engine.get_customer(customer_id)
        except CustomerNotFound:
            raise HttpError(404, f"no customer {customer_id}") from None

    # Interactions ------------------------------------------------------------------------------

    def create_interaction(self, request: Request, body: NewInteraction) -> tuple[int, InteractionCreated]:
        integration = current(request)
        kind, sender = (IdentityKind.phone, body.phone) if body.phone is not None else (IdentityKind.email, body.email)
        try:
            contact = InboundContact(
                channel=body.channel, endpoint=integration.login, external_id=f"{integration.login}:{body.external_id}",
                sender=sender, sender_kind=kind, sender_name=body.name, subject=body.subject,
                parts=[ContentPart(body=body.text)], queue=body.queue, priority=body.priority, language=body.language,
                metadata={"source": integration.login})
        except ValidationError as exc:
            raise HttpError(400, _said(exc)) from None
        try:
            result = self.engine.ingest(contact)
        except InvalidIdentity as exc:
            raise HttpError(400, f"{kind.value}: {exc}") from None
        except IngestRefused as exc:
            raise HttpError(409, str(exc)) from None
        created = InteractionCreated(interaction_id=result.interaction_id, customer_id=result.customer_id,
                                     message_id=result.message_id, duplicate=result.duplicate,
                                     new_customer=result.new_customer)
        return (200 if result.duplicate else 201), created

    def get_interaction(self, request: Request, interaction_id: int) -> tuple[int, InteractionView]:
        with self.store.transaction() as conn:
            view = store_inbox.interaction(conn, interaction_id)
            if view is None:
                raise HttpError(404, f"no interaction {interaction_id}")
            messages = store_inbox.messages(conn, interaction_id)
        return 200, InteractionView(interaction=InteractionSummary.model_validate(view),
                                    messages=[Message.model_validate(m) for m in messages])

    def note_interaction(self, request: Request, interaction_id: int, body: Note) -> tuple[int, Done]:
        with self.store.transaction() as conn:
            if store_inbox.interaction(conn, interaction_id) is None:
                raise HttpError(404, f"no interaction {interaction_id}")
        self.routing.note(interaction_id, "note", data={"text": body.text.strip()}, actor=current(request).login)
        return 201, Done()

    # Cases -------------------------------------------------------------------------------------

    def open_case(self, request: Request, body: NewCase) -> tuple[int, CaseCreated]:
        actor = Actor.of(current(request))
        case_id = case_action(lambda: self.cases.open(actor, body.interaction_id, body.category,
                                                      body.description.strip(), body.severity))
        return 201, CaseCreated(id=case_id)

    def get_case(self, request: Request, case_id: int) -> tuple[int, Case]:
        view = case_action(lambda: self.cases.view(Actor.of(current(request)), case_id))
        return 200, Case.model_validate(view)

    def note_case(self, request: Request, case_id: int, body: Note) -> tuple[int, Done]:
        actor = Actor.of(current(request))
        case_action(lambda: self.cases.note(actor, case_id, body.text.strip()))
        return 201, Done()


def _valid(model: type[BaseModel], data: dict[str, Any]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise HttpError(400, _said(exc)) from None


def _said(exc: ValidationError) -> str:
    """A validation failure as one line a person reads: field and problem."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()[:10])
