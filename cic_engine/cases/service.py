"""What people and the engine do with cases: open one from an interaction, move it through its
category's workflow, note, ask the customer, resolve; a customer's message lands in their case
(and reopens a recently resolved one); the SLA watcher warns, marks breaches and escalates.
Who may do what is checked here, so every entry point (API, rules, tests) gets the same answer."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import gevent
import psycopg

from ..clock import Clock, SystemClock
from ..config import CicConfig
from ..language import of_interaction
from ..models import InboundContact, IngestResult
from ..replies import Replies, ReplyRefused
from ..settings.cases import CLOSED, IN_PROGRESS, NEW, RESOLVED, WAITING, CaseCategory
from ..store import Store
from ..store import cases as store_cases
from ..store import visibility as store_visibility

log = logging.getLogger(__name__)


class CaseRefused(ValueError):
    """The change is not allowed (workflow, permission, unknown case); the message says why."""

    def __init__(self, message: str, status: int = 409):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Actor:
    """Who acts on a case: an agent, a department user, or the engine itself (agent_id None)."""

    agent_id: int | None
    login: str
    roles: frozenset[str] = frozenset()
    department_id: int | None = None
    queue_ids: frozenset[int] = frozenset()  # an agent's or supervisor's queues: their cases are these queues'

    @classmethod
    def of(cls, principal) -> Actor:
        """The actor a logged-in principal is."""
        return cls(principal.agent_id, principal.login, principal.roles, principal.department_id, principal.queue_ids)

    @property
    def department_user(self) -> bool:
        return "department" in self.roles and not self.roles & {"agent", "supervisor", "admin"}


ENGINE = Actor(agent_id=None, login="engine")


class Cases:
    def __init__(self, store: Store, cic: CicConfig, clock: Clock | None = None, replies: Replies | None = None):
        self.store = store
        self.settings = cic.cases
        self.clock = clock or SystemClock()
        self.replies = replies

    @property
    def escalate_to(self) -> dict[str, str | None]:
        """Each department's lead, from the settings (a reload replaces them)."""
        return {d.name: d.escalate_to for d in self.settings.departments}

    @property
    def enabled(self) -> bool:
        return bool(self.settings.categories)

    def _category(self, name: str) -> CaseCategory:
        found = self.settings.category(name)
        if found is None:
            raise CaseRefused(f"no case category {name!r}; known: {', '.join(c.name for c in self.settings.categories)}",
                              400)
        return found

    # Reading --------------------------------------------------------------------------------

    def visible(self, conn, actor: Actor, case: dict[str, Any] | None) -> dict[str, Any]:
        """The case if the actor may see it (store/visibility.py: an agent through the queues
        they work, a department user their department's). Not found and not allowed look the
        same (404), so ids cannot be probed."""
        if case is None or not store_visibility.case(conn, actor, case["id"]):
            raise CaseRefused("no such case", 404)
        return case

    def listing(self, actor: Actor, include_closed: bool = False) -> list[dict[str, Any]]:
        with self.store.transaction() as conn:
            return [self._with_sla(c) for c in store_cases.listing(conn, actor, include_closed)]

    def view(self, actor: Actor, case_id: int) -> dict[str, Any]:
        with self.store.transaction() as conn:
            case = self.visible(conn, actor, store_cases.get(conn, case_id))
            return {**self._with_sla(case), "interactions": store_cases.interactions(conn, case_id),
                    "events": store_cases.events(conn, case_id),
                    "moves": self._category(case["category"]).transitions.get(case["status"], [])}

    def open_for_customer(self, actor: Actor, customer_id: int) -> list[dict[str, Any]]:
        with self.store.transaction() as conn:
            return [self._with_sla(c) for c in store_cases.open_for_customer(conn, actor, customer_id)]

    def _with_sla(self, case: dict[str, Any]) -> dict[str, Any]:
        now = self.clock.now()
        if case["closed_at"] or case["resolved_at"]:
            sla = "done"
        elif case["paused_since"]:
            sla = "paused"
        elif case["breached_at"] or case["due_at"] <= now:
            sla = "breached"
        elif case["warned_at"] or case["warn_at"] <= now:
            sla = "warning"
        else:
            sla = "ok"
        return {**case, "sla": sla}

    # Changing -------------------------------------------------------------------------------

    def open(self, actor: Actor, interaction_id: int, category: str, description: str,
             severity: str = "normal") -> int:
        if actor.department_user:
            raise CaseRefused("cases are opened by the contact center", 403)
        found = self._category(category)
        if severity not in self.settings.severities:
            raise CaseRefused(f"severity must be one of {', '.join(self.settings.severities)}", 400)
        now = self.clock.now()
        with self.store.transaction() as conn:
            case_id = store_cases.open_case(conn, interaction_id, category, severity, description, found.department,
                                            NEW, actor.agent_id, now, found.sla_s, found.warn_at)
            if case_id is None:
                raise CaseRefused(f"no interaction {interaction_id}", 404)
            store_cases.record(conn, case_id, "case_opened", now, actor.agent_id, actor.login, {
                "category": category, "severity": severity, "department": found.department, "text": description},
                interaction_id)
        self._tell_customer(case_id, "opened")
        return case_id

    def move(self, actor: Actor, case_id: int, to: str, note: str | None = None) -> None:
        """A status change the case's workflow allows, on the timeline with who and when."""
        now = self.clock.now()
        with self.store.transaction() as conn:
            case = self.visible(conn, actor, store_cases.get(conn, case_id, lock=True))
            self._move(conn, case, to, now, actor, note)

    def _move(self, conn, case: dict[str, Any], to: str, now, actor: Actor, note: str | None,
              interaction_id: int | None = None, reopen: bool = False) -> None:
        category = self._category(case["category"])
        if not category.can_move(case["status"], to):
            allowed = category.transitions.get(case["status"], [])
            raise CaseRefused(f"a case that is {case['status']} cannot become {to}; it can become "
                              f"{', '.join(allowed) if allowed else 'nothing (it is final)'}")
        pause, was_paused = to in category.paused, case["status"] in category.paused
        store_cases.set_status(conn, case["id"], to, now, pause=pause and not was_paused,
                               resume=was_paused and not pause)
        if reopen:
            store_cases.reopened(conn, case["id"])
        store_cases.record(conn, case["id"], "case_reopened" if reopen else "case_status", now, actor.agent_id,
                           actor.login, {"from": case["status"], "to": to, **({"text": note} if note else {})},
                           interaction_id)

    def note(self, actor: Actor, case_id: int, text: str) -> None:
        now = self.clock.now()
        with self.store.transaction() as conn:
            self.visible(conn, actor, store_cases.get(conn, case_id))
            store_cases.record(conn, case_id, "case_note", now, actor.agent_id, actor.login, {"text": text})

    def ask_customer(self, actor: Actor, case_id: int, question: str) -> None:
        """The department asks; the contact center's channel carries it; the case waits (SLA paused)."""
        now = self.clock.now()
        with self.store.transaction() as conn:
            case = self.visible(conn, actor, store_cases.get(conn, case_id, lock=True))
            if case["status"] != WAITING:
                self._move(conn, case, WAITING, now, actor, None)
            store_cases.record(conn, case_id, "case_question", now, actor.agent_id, actor.login, {"text": question})
        self._tell_customer(case_id, "question", question=question)

    def resolve(self, actor: Actor, case_id: int, resolution: str) -> None:
        now = self.clock.now()
        with self.store.transaction() as conn:
            case = self.visible(conn, actor, store_cases.get(conn, case_id, lock=True))
            self._move(conn, case, RESOLVED, now, actor, resolution)
        self._tell_customer(case_id, "resolved", resolution=resolution)

    def customer_wrote(self, contacts: Sequence[InboundContact], results: list[IngestResult | Exception]) -> None:
        """After ingest: a message from a customer with a case lands in it. A case waiting for
        them goes back to in progress (its clock runs again); one resolved within its category's
        reopen window is reopened. A new interaction that lands in no case and matches a rule
        opens one."""
        fresh = [(c, r) for c, r in zip(contacts, results, strict=True)
                 if isinstance(r, IngestResult) and not r.duplicate and "csat_survey" not in c.metadata]
        if not fresh or not self.enabled:
            return
        landed = self._land(dict((r.customer_id, r) for _, r in fresh))
        for contact, result in fresh:
            if result.new_interaction and result.interaction_id not in landed and contact.needs_agent:
                rule = next((r for r in self.settings.rules if r.matches(
                    contact.channel.value, contact.endpoint, contact.metadata)), None)
                if rule is not None:
                    text = contact.subject or next((p.body for p in contact.parts), "") or contact.channel.value
                    case_id = self.open(ENGINE, result.interaction_id, rule.category, text[:2000], rule.severity)
                    log.info("case %s opened by a rule for interaction %s", case_id, result.interaction_id)

    def _land(self, by_customer: dict[int, IngestResult]) -> set[int]:
        """Link the messages to their customers' cases; the interactions that landed in one."""
        landed: set[int] = set()
        now = self.clock.now()
        with self.store.transaction() as conn:
            seen: set[int] = set()
            for case in store_cases.replied_to(conn, list(by_customer)):
                if case["customer_id"] in seen:
                    continue  # the newest open case of the customer takes the message
                seen.add(case["customer_id"])
                result = by_customer[case["customer_id"]]
                category = self._category(case["category"])
                window = timedelta(hours=category.reopen_within_h)
                if case["status"] == RESOLVED and case["resolved_at"] and now - case["resolved_at"] > window:
                    continue
                store_cases.link(conn, case["id"], result.interaction_id, now)
                landed.add(result.interaction_id)
                store_cases.record(conn, case["id"], "case_customer_message", now, None, "customer",
                                   {"message_id": result.message_id}, result.interaction_id)
                if case["status"] == WAITING and category.can_move(WAITING, IN_PROGRESS):
                    self._move(conn, case, IN_PROGRESS, now, ENGINE, "the customer answered", result.interaction_id)
                elif case["status"] == RESOLVED and category.can_move(RESOLVED, IN_PROGRESS):
                    self._move(conn, case, IN_PROGRESS, now, ENGINE, "the customer wrote after resolution",
                               result.interaction_id, reopen=True)
        return landed

    def check_sla(self) -> list[tuple[int, str]]:
        """Warn the cases past their warning time, mark and escalate those past due: (case, what)."""
        now = self.clock.now()
        done: list[tuple[int, str]] = []
        with self.store.transaction() as conn:
            for case in store_cases.warn_due(conn, now):
                store_cases.record(conn, case["id"], "case_sla_warning", now, None, "engine",
                                   {"due_at": case["due_at"].isoformat(), "department": case["department"]})
                done.append((case["id"], "warning"))
            for case in store_cases.breach_due(conn, now):
                store_cases.record(conn, case["id"], "case_sla_breach", now, None, "engine",
                                   {"due_at": case["due_at"].isoformat(), "department": case["department"]})
                done.append((case["id"], "breach"))
                lead = self.escalate_to.get(case["department"])
                if lead and lead != case["owner"] and store_cases.assign(conn, case["id"], lead) is not None:
                    store_cases.record(conn, case["id"], "case_escalated", now, None, "engine",
                                       {"from": case["owner"], "to": lead, "department": case["department"]})
                    done.append((case["id"], "escalated"))
        return done

    def watch(self, every_s: float) -> None:
        """The SLA watcher's loop (one per node; the scans skip what another node holds)."""
        while True:
            gevent.sleep(every_s)
            try:
                for case_id, what in self.check_sla():
                    log.info("case %s: SLA %s", case_id, what)
            except (psycopg.Error, OSError) as exc:
                log.warning("case SLA check: database unavailable (%s)", exc)

    # The customer ----------------------------------------------------------------------------

    def _tell_customer(self, case_id: int, what: str, **values: str) -> None:
        """The customer hears of their case on the channels store_cases.reach orders (after a call:
        `notify.after_call`), from the configured template; a refusal (opted out, no address) is
        on the case's timeline, not an error for the agent."""
        if not getattr(self.settings.notify, what, None) or self.replies is None:
            return
        now = self.clock.now()
        with self.store.transaction() as conn:
            case = store_cases.get(conn, case_id)
            route = store_cases.reach(conn, case_id, list(self.settings.notify.after_call))
            assert case is not None and route is not None  # a case is opened from an interaction
            language = of_interaction(conn, route[0])
        interaction_id, tried = route
        template = self.settings.notify.text(what, language)
        assert template is not None
        text = template.format(case=case_id, title=self._category(case["category"]).title,
                               customer_name=case["customer_name"] or "", question=values.get("question", ""),
                               resolution=values.get("resolution", ""))
        problems = []
        for option in tried:
            try:
                subject = f"您的工单 #{case_id}" if language == "zh-CN" else f"Your case #{case_id}"
                outbox_id = self.replies.reply(interaction_id, text, kind=f"case_{what}", quote_previous=False,
                                               channel=option, subject=subject)
            except ReplyRefused as exc:
                problems.append(f"{option}: {exc}")
                continue
            with self.store.transaction() as conn:
                store_cases.record(conn, case_id, "case_customer_told", now, None, "engine",
                                   {"what": what, "channel": option, "outbox_id": outbox_id})
            return
        with self.store.transaction() as conn:
            store_cases.record(conn, case_id, "case_customer_not_told", now, None, "engine",
                               {"what": what, "error": "; ".join(problems) or "no channel"})
        log.info("case %s: the customer could not be told (%s)", case_id, "; ".join(problems))


__all__ = ["CLOSED", "ENGINE", "Actor", "CaseRefused", "Cases"]
