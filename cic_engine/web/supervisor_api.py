"""The supervisor view's API: the live queue board and agent board, and the actions a
supervisor takes on them (move or assign an interaction, force an agent's state)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime, time, timedelta
from typing import Any

from werkzeug.wrappers import Request, Response

from ..kpi import report as kpi_report
from ..kpi.report import GROUPS, INTERVALS
from ..routing.service import Routing, RoutingError
from ..store import Store
from ..store import board as store_board
from ..store import kpi as store_kpi
from ..store import rejected as store_rejected
from ..store import reports as store_reports
from ..store import visibility as store_visibility
from ..store.sessions import Principal
from .access import SUPERVISORS, current
from .app import HttpError, WebApp, read_json
from .inbox_api import act, require_visible


class SupervisorApi:
    def __init__(self, store: Store, routing: Routing, channels: Callable[[], set[str]] = lambda: set()):
        self.store = store
        self.routing = routing
        self.channels = channels  # the channels an adapter runs for on this node

    def mount(self, app: WebApp) -> None:
        app.route("/api/board", self.board, allow=SUPERVISORS)
        app.route("/api/interactions/<int:interaction_id>/move", self.move, ("POST",), allow=SUPERVISORS)
        app.route("/api/interactions/<int:interaction_id>/assign", self.assign, ("POST",), allow=SUPERVISORS)
        app.route("/api/agents/<login>/state", self.force_state, ("POST",), allow=SUPERVISORS)
        app.route("/api/reports/cases", self.cases_report, allow=SUPERVISORS)
        app.route("/api/reports/kpi", self.kpi_report, allow=SUPERVISORS)
        app.route("/api/rejected/<int:rejected_id>/reingest", self.reingest, ("POST",), allow=SUPERVISORS)
        app.route("/api/rejected/<int:rejected_id>/dismiss", self.dismiss, ("POST",), allow=SUPERVISORS)

    def board(self, request: Request) -> tuple[int, Any]:
        """Per queue and channel since midnight (UTC): waiting, longest wait, service level,
        average speed of answer, abandoned; every agent's state; what waits, in line order. A
        supervisor sees their own queues and the agents working them; an admin all."""
        principal = current(request)
        now = self.routing.clock.now()
        since = datetime.combine(now.date(), time(0), tzinfo=now.tzinfo)
        running = self.channels()
        # A queue's channel with no adapter and nothing in it today is not a row of zeros.
        queues = [asdict(q) for q in self.routing.queue_board(since)
                  if q.channel in running or q.waiting or q.answered or q.abandoned]
        with self.store.transaction() as conn:
            # Department users work cases, not interactions: not on the agent board.
            agents = [a for a in store_board.agents(conn)
                      if "department" not in a["roles"] or {"agent", "supervisor", "admin"} & set(a["roles"])]
            waiting = store_board.waiting(conn)
            rejected = [r.summary() for r in store_rejected.waiting(conn, 50)]
        if "admin" not in principal.roles:
            by_id = self.routing.router.queues.by_id
            mine = {by_id[i].name for i in principal.queue_ids if i in by_id}
            queues = [q for q in queues if q["queue"] in mine]
            agents = [a for a in agents if mine & set(a["queues"])]
            waiting = [w for w in waiting if w["queue"] in mine]
        return 200, {"since": since, "now": now, "queues": queues, "agents": agents, "waiting": waiting,
                     "rejected": rejected}

    def reingest(self, request: Request, rejected_id: int) -> tuple[int, Any]:
        """Ask for a rejected contact to be taken in again (after a fix); the node running its
        adapter does it within a second or two, and the board shows the outcome."""
        principal = current(request)
        with self.store.transaction() as conn:
            row = store_rejected.request_reingest(conn, rejected_id, principal.login, self.routing.clock.now())
        if row is None:
            raise HttpError(404, f"no rejected contact #{rejected_id} waiting")
        return 202, row.summary()

    def dismiss(self, request: Request, rejected_id: int) -> tuple[int, Any]:
        """Off the board for good (a frame that never was a message); the bytes stay on record."""
        with self.store.transaction() as conn:
            done = store_rejected.dismiss(conn, rejected_id, current(request).login, self.routing.clock.now())
        if not done:
            raise HttpError(404, f"no rejected contact #{rejected_id} waiting")
        return 200, {"ok": True}

    def cases_report(self, request: Request) -> tuple[int, Any]:
        """Open cases by age and department, SLA breaches, time to resolve and reopen rate per
        category, satisfaction per agent, queue, category and channel; since ?days= (default 30)."""
        days = request.args.get("days", 30, type=int)
        if days is None or not 1 <= days <= 366:
            raise HttpError(400, "days must be 1 to 366")
        now = self.routing.clock.now()
        with self.store.transaction() as conn:
            return 200, store_reports.cases_report(conn, now - timedelta(days=days), now)

    def kpi_report(self, request: Request):
        """KPIs per interval and group over a date range: ?from=&to= (ISO dates or times, UTC;
        default the last 24 h), interval=15min|hour|day, group=queue|channel|queue_channel|agent,
        short_abandon_s, fcr_days, format=json|csv."""
        now = self.routing.clock.now()
        try:
            end = _moment(request.args.get("to")) or now
            start = _moment(request.args.get("from")) or end - timedelta(days=1)
            short = float(request.args.get("short_abandon_s", 5))
            fcr_days = float(request.args.get("fcr_days", 7))
        except ValueError as exc:
            raise HttpError(400, f"bad range or number: {exc}") from None
        interval, group = request.args.get("interval", "hour"), request.args.get("group", "queue_channel")
        if interval not in INTERVALS or group not in GROUPS:
            raise HttpError(400, f"interval is one of {', '.join(INTERVALS)}; group one of {', '.join(GROUPS)}")
        if not start < end or (end - start).days > 92:
            raise HttpError(400, "from must be before to, and at most 92 days apart")
        queues = self.routing.router.queues
        targets = {(q.name, c.value): (q.target(c).percent, q.target(c).within_s)
                   for q in queues.by_id.values() for c in q.channels}
        with self.store.transaction() as conn:
            facts = store_kpi.facts(conn, start, end, fcr_days)
            staffing = store_kpi.staffing(conn, start, end)
        rows = kpi_report.kpis(facts, staffing, targets, start, end, interval, group, short)
        if request.args.get("format") == "csv":
            response = Response(kpi_report.as_csv(rows), content_type="text/csv; charset=utf-8")
            response.headers.set("Content-Disposition", "attachment",
                                 filename=f"kpi-{group}-{interval}-{start:%Y%m%d}-{end:%Y%m%d}.csv")
            return response
        return 200, {"from": start, "to": end, "interval": interval, "group": group, "rows": rows}

    def move(self, request: Request, interaction_id: int) -> tuple[int, Any]:
        principal = current(request)
        require_visible(self.store, principal, interaction_id)
        queue = read_json(request).get("queue")
        if not isinstance(queue, str):
            raise HttpError(400, "queue is required")
        return act(lambda: self.routing.move(interaction_id, queue, actor=principal.login))

    def assign(self, request: Request, interaction_id: int) -> tuple[int, Any]:
        principal = current(request)
        require_visible(self.store, principal, interaction_id)
        agent = read_json(request).get("agent")
        if not isinstance(agent, str):
            raise HttpError(400, "agent (a login) is required")
        agent_id = self._agent(principal, agent)
        return act(lambda: self.routing.assign(interaction_id, agent_id, actor=principal.login))

    def force_state(self, request: Request, login: str) -> tuple[int, Any]:
        body = read_json(request)
        agent_id = self._agent(current(request), login)
        state = body.get("state")
        if state == "away":
            return act(lambda: self.routing.set_away(agent_id, str(body.get("reason") or "")))
        if state == "offline":
            return act(lambda: self.routing.set_offline(agent_id))
        if state == "available":
            return act(lambda: self.routing.set_available(agent_id))
        raise HttpError(400, "state must be available, away or offline")

    def _agent(self, principal: Principal, login: str) -> int:
        """An agent the supervisor may act on: one working one of their queues (404 otherwise)."""
        try:
            agent_id = self.routing.agent_id(login)
        except RoutingError as exc:
            raise HttpError(404, str(exc)) from None
        with self.store.transaction() as conn:
            if not store_visibility.agent(conn, principal, agent_id):
                raise HttpError(404, f"no agent {login!r} in your queues")
        return agent_id


def _moment(text: str | None) -> datetime | None:
    """An ISO date or time from a query string, in UTC when it names no zone."""
    if not text:
        return None
    found = datetime.fromisoformat(text)
    return found if found.tzinfo else found.replace(tzinfo=UTC)
