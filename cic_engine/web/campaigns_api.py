"""The campaigns API: supervisors create campaigns, import their lists (a row-by-row report),
start and pause them, read their reports, and keep the do-not-contact list; agents read the
campaign record of an interaction they hold and dial a preview."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError
from werkzeug.wrappers import Request

from ..callcontrol import CallControl, CallControlError
from ..identity import InvalidIdentity, normalise_email, normalise_phone
from ..outbound.dialer import Dialer
from ..settings.outbound import CampaignSettings, Segment
from ..store import Store
from ..store import campaigns as store_campaigns
from ..store import visibility as store_visibility
from ..store.campaigns import Campaign, do_not_contact
from ..store.campaigns import attempts as campaign_attempts
from ..store.campaigns import lists as campaign_lists
from ..store.campaigns import reports as campaign_reports
from .access import AGENTS, SUPERVISORS, current
from .app import HttpError, WebApp, read_body, read_json

MAX_CSV_BYTES = 20 * 1024 * 1024


def _problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'campaign'}: {e['msg']}"
                     for e in exc.errors(include_url=False))


class CampaignsApi:
    def __init__(self, store: Store, dialer: Dialer, queue_ids: Callable[[], dict[str, int]],
                 calls: CallControl, channels: Callable[[], set[str]] | None = None):
        self.store = store
        self.dialer = dialer
        self.queue_ids = queue_ids
        self.calls = calls
        self.channels = channels  # the channels an adapter runs for (None: not known, not checked)

    def mount(self, app: WebApp) -> None:
        app.route("/api/campaigns", self.listing, allow=SUPERVISORS)
        app.route("/api/campaigns", self.create, ("POST",), allow=SUPERVISORS)
        app.route("/api/campaigns/<int:campaign_id>", self.view, allow=SUPERVISORS)
        app.route("/api/campaigns/<int:campaign_id>/contacts", self.contacts, ("POST",), allow=SUPERVISORS)
        app.route("/api/campaigns/<int:campaign_id>/start", self.start, ("POST",), allow=SUPERVISORS)
        app.route("/api/campaigns/<int:campaign_id>/pause", self.pause, ("POST",), allow=SUPERVISORS)
        app.route("/api/dnc", self.dnc_list, allow=SUPERVISORS)
        app.route("/api/dnc", self.dnc_add, ("POST",), allow=AGENTS)
        app.route("/api/dnc/remove", self.dnc_remove, ("POST",), allow=SUPERVISORS)
        app.route("/api/interactions/<int:interaction_id>/campaign", self.record, allow=AGENTS)
        app.route("/api/interactions/<int:interaction_id>/campaign-dial", self.dial, ("POST",), allow=AGENTS)

    def _campaign(self, campaign_id: int) -> Campaign:
        with self.store.transaction() as conn:
            campaign = store_campaigns.get(conn, campaign_id)
        if campaign is None:
            raise HttpError(404, f"no campaign {campaign_id}")
        return campaign

    def listing(self, request: Request) -> tuple[int, Any]:
        with self.store.transaction() as conn:
            return 200, {"campaigns": [{"id": c.id, **campaign_reports.report(conn, c)}
                                       for c in store_campaigns.all_campaigns(conn)]}

    def create(self, request: Request) -> tuple[int, Any]:
        principal = current(request)
        try:
            settings = CampaignSettings.model_validate(read_json(request))
        except ValidationError as exc:
            raise HttpError(400, f"campaign refused: {_problems(exc)}") from None
        if settings.contacts_csv is not None:
            raise HttpError(400, "contacts_csv is for cic.toml; post the list to /api/campaigns/<id>/contacts")
        if settings.queue is not None and settings.queue not in self.queue_ids():
            raise HttpError(400, f"campaign refused: queue: no queue named {settings.queue!r}")
        campaign = self.dialer.save(settings, self.queue_ids(), f"agent:{principal.agent_id}")
        return 201, {"id": campaign.id, "state": campaign.state}

    def view(self, request: Request, campaign_id: int) -> tuple[int, Any]:
        campaign = self._campaign(campaign_id)
        with self.store.transaction() as conn:
            report = campaign_reports.report(conn, campaign)
        return 200, {"id": campaign.id, "settings": campaign.settings.model_dump(mode="json"), "report": report}

    def contacts(self, request: Request, campaign_id: int) -> tuple[int, Any]:
        """A CSV list (text/csv), or {"segment": {...}} for customers of the profile store."""
        campaign = self._campaign(campaign_id)
        if request.mimetype == "application/json":
            try:
                segment = Segment.model_validate(read_json(request).get("segment") or {})
            except ValidationError as exc:
                raise HttpError(400, f"segment refused: {_problems(exc)}") from None
            with self.store.transaction() as conn:
                added = campaign_lists.add_segment(conn, campaign, segment, self.dialer.clock.now())
            return 200, {"added": added}
        if request.mimetype != "text/csv":
            # A cross-site form cannot send text/csv, which (with SameSite cookies) keeps forged imports out.
            raise HttpError(415, "send the list as text/csv, or JSON with a segment")
        try:
            data = read_body(request, MAX_CSV_BYTES)
        except HttpError:
            raise HttpError(413, f"the list is larger than {MAX_CSV_BYTES // (1024 * 1024)} MiB; split it") from None
        report, added, already = self.dialer.import_contacts(campaign, data)
        return 200, {"summary": report.summary, "added": added, "already": already,
                     "errors": [{"row": row, "problem": problem} for row, problem in report.errors]}

    def _set_state(self, request: Request, campaign_id: int, state: str) -> tuple[int, Any]:
        campaign = self._campaign(campaign_id)
        if state == "running" and self.channels is not None and campaign.channel not in self.channels():
            # Started, it would only pile up attempts nothing can send.
            raise HttpError(409, f"no {campaign.channel} channel is configured: add one under channels/, "
                                 "then start the campaign")
        with self.store.transaction() as conn:
            store_campaigns.set_state(conn, campaign.id, state, self.dialer.clock.now())
        return 200, {"id": campaign.id, "state": state}

    def start(self, request: Request, campaign_id: int) -> tuple[int, Any]:
        return self._set_state(request, campaign_id, "running")

    def pause(self, request: Request, campaign_id: int) -> tuple[int, Any]:
        return self._set_state(request, campaign_id, "paused")

    # The do-not-contact list ----------------------------------------------------------------

    def _identity(self, body: dict[str, Any]) -> tuple[str, str]:
        try:
            if isinstance(body.get("phone"), str):
                return "phone", normalise_phone(body["phone"], self.dialer.region)
            if isinstance(body.get("email"), str):
                return "email", normalise_email(body["email"])
        except InvalidIdentity as exc:
            raise HttpError(400, str(exc)) from None
        raise HttpError(400, "give a phone or an email")

    def dnc_list(self, request: Request) -> tuple[int, Any]:
        with self.store.transaction() as conn:
            return 200, {"entries": do_not_contact.dnc_list(conn)}

    def dnc_add(self, request: Request) -> tuple[int, Any]:
        principal = current(request)
        body = read_json(request)
        kind, value = self._identity(body)
        reason = body.get("reason") if isinstance(body.get("reason"), str) else None
        with self.store.transaction() as conn:
            added = do_not_contact.dnc_add(conn, kind, value, (reason or "")[:500] or None,
                                            f"agent:{principal.agent_id}", self.dialer.clock.now())
        return (201 if added else 200), {"kind": kind, "value": value, "added": added}

    def dnc_remove(self, request: Request) -> tuple[int, Any]:
        kind, value = self._identity(read_json(request))
        with self.store.transaction() as conn:
            removed = do_not_contact.dnc_remove(conn, kind, value)
        if not removed:
            raise HttpError(404, f"{value} is not on the do-not-contact list")
        return 200, {"kind": kind, "value": value, "removed": True}

    # For the agent --------------------------------------------------------------------------

    def _visible(self, request: Request, interaction_id: int):
        principal = current(request)
        with self.store.transaction() as conn:
            if not store_visibility.interaction(conn, principal, interaction_id):
                raise HttpError(404, f"no interaction {interaction_id}")
            found = campaign_attempts.attempt(conn, interaction_id=interaction_id)
        if found is None:
            raise HttpError(404, f"interaction {interaction_id} belongs to no campaign call")
        return principal, found

    def record(self, request: Request, interaction_id: int) -> tuple[int, Any]:
        """What the agent sees of a campaign call or preview: the script and the list's row."""
        _, found = self._visible(request, interaction_id)
        with self.store.transaction() as conn:
            row = conn.execute("SELECT name, fields, attempts FROM campaign_contacts WHERE id = %s",
                               (found.contact_id,)).fetchone()
        settings = found.campaign.settings
        return 200, {"campaign": found.campaign.name, "title": settings.title, "mode": settings.mode,
                     "script": settings.script, "number": found.address, "name": row[0], "fields": row[1],
                     "attempt": row[2], "outcome": found.outcome, "dispositions": settings.conversions +
                     settings.machine_dispositions + settings.retry_dispositions}

    def dial(self, request: Request, interaction_id: int) -> tuple[int, Any]:
        principal, _ = self._visible(request, interaction_id)
        try:
            return 200, self.calls.request("campaign_dial", interaction_id, principal.agent_id)
        except CallControlError as exc:
            raise HttpError(409, str(exc)) from None
