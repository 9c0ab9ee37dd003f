"""Customer satisfaction: after an interaction an agent handled, or a case's resolution, the
customer is asked for a 1-5 score on the channel used (an SMS or email to reply to, the chat
widget, a key after a call). A reply that is just the score, within the answer window, is
recorded on the survey and the timeline and asks no agent's time; anything else is a normal
message. Surveys are asked once: the row is the claim, so two nodes never both ask."""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Sequence
from datetime import datetime, timedelta

import gevent
import psycopg

from ..clock import Clock, SystemClock
from ..identity import InvalidIdentity, normalise
from ..language import of_interaction
from ..models import InboundContact, IngestResult
from ..replies import Replies, ReplyRefused
from ..routing.events import RoutingEvent
from ..settings.csat import CsatSection
from ..store import Store
from ..store import cases as store_cases
from ..store import customers as store_customers
from ..store.routing import record

log = logging.getLogger(__name__)
# A bare score, alone on the first line that is not empty (a mail's quoted text follows it).
# "5", "5!", and as Chinese customers answer: "５" (a full-width digit, NFKC'd), "5分", "5。"
_SCORE = re.compile(r"\s*([1-5])\s*分?\s*[.!。！]?\s*")


def score_of(text: str) -> int | None:
    first = unicodedata.normalize("NFKC", next((line for line in text.splitlines() if line.strip()), ""))
    found = _SCORE.fullmatch(first)
    return int(found.group(1)) if found else None


class Surveys:
    def __init__(self, store: Store, settings: CsatSection, phone_region: str, clock: Clock | None = None,
                 replies: Replies | None = None):
        self.store = store
        self.settings = settings
        self.phone_region = phone_region
        self.clock = clock or SystemClock()
        self.replies = replies

    @property
    def enabled(self) -> bool:
        return bool(self.settings.after)

    # Asking ---------------------------------------------------------------------------------

    def on_event(self, event: RoutingEvent) -> None:
        """From cic_events: an interaction closed after an agent's work, a case resolved."""
        if event.event == "interaction.closed" and "interaction" in self.settings.after and event.agent_id \
                and event.interaction_id is not None:
            gevent.spawn(self._safely, self.ask, event.interaction_id)
        elif (event.event == "interaction.case_status" and "case" in self.settings.after
              and event.data.get("to") == "resolved" and event.data.get("case_id")):
            gevent.spawn(self._safely, self.ask_case, int(event.data["case_id"]))

    def _safely(self, fn, *args) -> None:
        try:
            fn(*args)
        except (psycopg.Error, OSError) as exc:
            log.warning("survey not asked: %s", exc)

    def ask(self, interaction_id: int) -> int | None:
        """After an agent's work on an email, SMS or chat: claim and send the survey (None when it
        was asked already or cannot be on this channel; a call's is asked in the call)."""
        survey_id = self._claim(interaction_id, None, exclude_voice=True)
        if survey_id is not None:
            self._send(interaction_id, survey_id, [None])
        return survey_id

    def ask_case(self, case_id: int) -> int | None:
        """After a case's resolution: on the channels the case's notices use (store_cases.reach),
        SMS or email after a call."""
        with self.store.transaction() as conn:
            route = store_cases.reach(conn, case_id, ["sms", "email"])
        if route is None:
            return None
        interaction_id, channels = route
        survey_id = self._claim(interaction_id, case_id, exclude_voice=False)
        if survey_id is not None:
            self._send(interaction_id, survey_id, list(channels))
        return survey_id

    def _claim(self, interaction_id: int, case_id: int | None, exclude_voice: bool) -> int | None:
        now = self.clock.now()
        with self.store.transaction() as conn:
            row = conn.execute(
                """INSERT INTO surveys (customer_id, interaction_id, case_id, case_round, agent_id, queue_id, category,
                                        channel, asked_at)
                   SELECT i.customer_id, i.id, c.id, c.reopened, COALESCE(c.owner_agent_id, c.opened_by, i.assigned_agent_id),
                          i.queue_id, c.category, i.channel, %s
                   FROM interactions i LEFT JOIN cases c ON c.id = %s
                   WHERE i.id = %s AND i.channel = ANY(%s) AND NOT (%s AND i.channel = 'voice')
                   ON CONFLICT DO NOTHING RETURNING id""",
                (now, case_id, interaction_id, list(self.settings.channels) + (["sms", "email"] if case_id else []),
                 exclude_voice)).fetchone()
            if row is None:
                return None
            record(conn, "csat_asked", now, interaction_id, data={"survey_id": row[0], "case_id": case_id})
        return row[0]

    def _send(self, interaction_id: int, survey_id: int, channels: list[str | None]) -> None:
        if self.replies is None:
            return
        with self.store.transaction() as conn:
            language = of_interaction(conn, interaction_id)
        question = self.settings.questions.get(language, self.settings.question)  # type: ignore[arg-type]
        subject = "您对我们的服务满意吗？" if language == "zh-CN" else "How did we do?"
        problems = []
        for channel in channels:
            try:
                self.replies.reply(interaction_id, question, kind="survey", quote_previous=False,
                                   subject=subject, channel=channel)
                return
            except ReplyRefused as exc:
                problems.append(str(exc))
        log.info("survey %s not sent: %s", survey_id, "; ".join(problems))

    def ask_in_call(self, interaction_id: int) -> int | None:
        """The survey of a call, claimed by the voice adapter before it asks for the key."""
        return self._claim(interaction_id, None, exclude_voice=False)

    # Answers --------------------------------------------------------------------------------

    def classify(self, contact: InboundContact) -> InboundContact:
        """Before ingest: a bare score from a customer with a survey pending is its answer, and
        needs no agent."""
        if contact.channel.value not in ("sms", "email", "chat") or not contact.parts:
            return contact
        score = score_of(contact.parts[0].body)
        if score is None:
            return contact
        try:
            address = normalise(contact.identity_kind, contact.sender, contact.region or self.phone_region)
        except InvalidIdentity:
            return contact
        since = self.clock.now() - timedelta(hours=self.settings.answer_within_h)
        with self.store.transaction() as conn:
            customer_id = store_customers.find_id_by_identity(conn, contact.identity_kind.value, address)
            row = conn.execute("""SELECT id FROM surveys WHERE customer_id = %s AND answered_at IS NULL
                                  AND asked_at >= %s ORDER BY asked_at DESC LIMIT 1""",
                               (customer_id, since)).fetchone() if customer_id else None
        if row is None:
            return contact
        return contact.model_copy(update={"needs_agent": False, "metadata": {
            **contact.metadata, "csat_survey": str(row[0]), "csat_score": str(score)}})

    def answered(self, contacts: Sequence[InboundContact], results: list[IngestResult | Exception]) -> None:
        """After ingest: record the scores classify found."""
        for contact, result in zip(contacts, results, strict=True):
            if "csat_survey" in contact.metadata and isinstance(result, IngestResult) and not result.duplicate:
                self.record(int(contact.metadata["csat_survey"]), int(contact.metadata["csat_score"]), contact.channel.value)

    def record(self, survey_id: int, score: int, via: str, at: datetime | None = None) -> bool:
        now = at or self.clock.now()
        with self.store.transaction() as conn:
            row = conn.execute(
                """UPDATE surveys SET score = %s, answered_at = %s WHERE id = %s AND answered_at IS NULL
                   RETURNING interaction_id, agent_id, case_id, category""", (score, now, survey_id)).fetchone()
            if row is None:
                return False
            record(conn, "csat", now, row[0], agent_id=row[1], data={
                "survey_id": survey_id, "score": score, "via": via, "case_id": row[2], "category": row[3]})
        return True

