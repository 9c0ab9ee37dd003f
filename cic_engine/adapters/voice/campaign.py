"""Campaign calls through FreeSWITCH. Part of the voice adapter.

Progressive and predictive: the customer's number is dialled first (`bgapi originate ... 'socket:
<ours> async full' inline`), so the switch hands us the call once it is answered; a busy line,
no answer or a failure comes back as the job's `-ERR <cause>`. An answered call may first be
listened to for a voicemail beep (mod_avmd), then waits at the head of the campaign's queue for
the router to offer it to an agent, for at most `connect_within_s`: after that it is an
abandoned call (the customer hears `abandon_prompt` and the line is cleared), which is what the
predictive pacer keeps under its cap.

Preview: the agent has accepted the record in the inbox; dialling it rings the agent's phone
first, then the customer's (as click-to-call does), after the contact rules are checked again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import gevent
from gevent.event import Event
from gevent.queue import Empty, Queue

from ... import logs
from ...esl.connection import ESLError
from ...esl.outbound import CallGone, OutboundCall
from ...outbound.dialer import verdict
from ...routing.events import RoutingEvent
from ...routing.service import RoutingError
from ...store.campaigns import Campaign
from ...store.campaigns import attempts as campaign_attempts
from ...store.campaigns import lists as campaign_lists
from .controls import CallSession, ControlRefused

log = logging.getLogger(__name__)

# Hangup causes of an originate that never answered (switch_channel.h), as campaign outcomes.
CAUSE_OUTCOMES = {
    "USER_BUSY": "busy", "NO_ANSWER": "no_answer", "NO_USER_RESPONSE": "no_answer", "ALLOTTED_TIMEOUT": "no_answer",
    "ORIGINATOR_CANCEL": "no_answer", "RECOVERY_ON_TIMER_EXPIRE": "no_answer", "CALL_REJECTED": "busy",
    "UNALLOCATED_NUMBER": "invalid", "INVALID_NUMBER_FORMAT": "invalid", "NO_ROUTE_DESTINATION": "invalid",
    "NUMBER_CHANGED": "invalid",
}
ATTEMPT_VARIABLE = "cic_campaign_attempt"
BEEP = "avmd::beep"  # mod_avmd's event when it hears a voicemail greeting's beep


def outcome_of(cause: str) -> str:
    return CAUSE_OUTCOMES.get(cause.upper(), "failed")


class CampaignCalls:
    """Mixed into VoiceAdapter: uses its config, context, esl, desk and call helpers."""

    _reports: dict[int, Callable[[bool, bool], None]]
    _reconciled: bool

    def can_dial(self) -> bool:
        # Not before the calls an earlier run left are settled: they still count as under way.
        return self.esl.connected.is_set() and self._reconciled

    def dial_campaign(self, attempt_id: int, number: str, campaign: Campaign,
                      report: Callable[[bool, bool], None], leg: str) -> None:
        self._reports[attempt_id] = report
        gevent.spawn(self._originate_campaign_call, attempt_id, number, campaign, leg)

    def _campaign_outcome(self, attempt_id: int, outcome: str, detail: str | None = None, reached: bool = False,
                          agent_id: int | None = None, answered: bool = False, abandoned: bool = False) -> None:
        with self.context.engine.store.transaction() as conn:
            campaign_attempts.finish_attempt(conn, attempt_id, outcome, self.context.engine.clock.now(), detail,
                                           reached=reached, agent_id=agent_id)
        report = self._reports.pop(attempt_id, None)  # the pacer hears each call it placed once
        if report is not None:
            report(answered, abandoned)

    def _originate_campaign_call(self, attempt_id: int, number: str, campaign: Campaign, leg: str) -> None:
        logs.bind(adapter=self.name, call_id=leg)
        settings = campaign.settings
        ring = self.config.ring_s
        variables = (f"origination_uuid={leg},originate_timeout={ring},origination_caller_id_number="
                     f"{settings.caller_id},ignore_early_media=true,{ATTEMPT_VARIABLE}={attempt_id}")
        dial = self.config.number_endpoint.format(number=number)
        try:
            job = self.esl.bgapi(f"originate {{{variables}}}{dial} 'socket:{self.config.outbound_bind} async full' "
                                 "inline", leg)
            out = str(job.get(timeout=ring + self.config.command_timeout_s)).strip()
        except ESLError as exc:
            self._campaign_outcome(attempt_id, "failed", f"could not dial: {exc}")
            return
        except gevent.Timeout:
            self._campaign_outcome(attempt_id, "failed", f"no answer from the switch within {ring}s")
            return
        if out.startswith("+OK"):
            return  # answered: the call is on our socket, where _campaign_answered takes it
        cause = (out.removeprefix("-ERR").split() or ["UNKNOWN"])[0]
        log.info("campaign %s attempt %s to %s: %s", campaign.name, attempt_id, number, cause)
        self._campaign_outcome(attempt_id, outcome_of(cause), cause)

    def _campaign_answered(self, call: OutboundCall) -> None:
        """Our socket holds an answered campaign call: a machine is left a message, a person is
        connected to an agent within connect_within_s, or the call is abandoned."""
        attempt_id = int(call.variable(ATTEMPT_VARIABLE) or 0)
        with self.context.engine.store.transaction() as conn:
            info = campaign_attempts.attempt(conn, attempt_id=attempt_id)
        if info is None or info.outcome is not None:
            log.info("call %s: campaign attempt %s is settled already; hanging up", call.uuid, attempt_id)
            call.hangup()
            return
        settings = info.campaign.settings
        try:
            if settings.machine_detection_s and self._machine_answered(call, settings.machine_detection_s):
                if settings.voicemail_message:
                    call.run("playback", settings.voicemail_message)
                call.hangup()
                self._campaign_outcome(attempt_id, "voicemail", "answering machine (beep heard)", reached=False,
                                       answered=False)
                return
        except CallGone:
            self._campaign_outcome(attempt_id, "no_answer", "hung up as it was answered")
            return
        with self.context.engine.store.transaction() as conn:
            interaction_id = campaign_attempts.answered(conn, attempt_id, call.uuid, self.context.engine.clock.now())
        if interaction_id is None:
            call.hangup()
            return
        logs.bind(interaction_id=interaction_id)
        queue = next((q.name for q in self.context.engine.cic.queues if q.name == settings.queue), None)
        session = CallSession(interaction_id=interaction_id, call=call, queue=queue)
        offers: Queue[RoutingEvent | None] = Queue()
        self._waiting[interaction_id] = offers
        call.hungup.rawlink(lambda _: offers.put(None))
        ringing: list[int] = []  # the agent whose phone rings now
        bridged: list[int] = []

        def on_bridge(event) -> None:
            if event.name == "CHANNEL_BRIDGE" and ringing and not bridged:
                bridged.append(ringing[0])
                gevent.spawn(self._campaign_outcome, attempt_id, "connected", None, True, ringing[0], True)

        call.on_event.append(on_bridge)
        try:
            self._connect_campaign_call(call, session, offers, settings.connect_within_s, ringing, bridged)
        except CallGone:
            pass
        finally:
            call.on_event.remove(on_bridge)
            self._waiting.pop(interaction_id, None)
            self.desk.sessions.pop(interaction_id, None)
        if not bridged:
            self._abandon_campaign_call(call, interaction_id, attempt_id, settings.abandon_prompt)

    def _machine_answered(self, call: OutboundCall, listen_s: float) -> bool:
        beep = Event()
        watch = lambda e: (e.name == "CUSTOM" and e.get("Event-Subclass") == BEEP  # noqa: E731
                           and e.uuid in (call.uuid, "") and beep.set())
        call.on_event.append(watch)
        try:
            # mod_avmd's CUSTOM event is not among `myevents` on the call's own socket (seen on
            # the real switch: the beep was heard and never reported): ask for it
            call.subscribe("CUSTOM", BEEP)
            call.run("avmd_start")
            heard = beep.wait(listen_s)
            call.run("avmd_stop")
        finally:
            call.on_event.remove(watch)
        return bool(heard)

    def _connect_campaign_call(self, call: OutboundCall, session: CallSession, offers: Queue, within_s: float,
                               ringing: list[int], bridged: list[int]) -> None:
        """Take the first agent offered within the time; a phone that does not answer gives the
        offer back and the call waits for another while time is left. Once connected, a
        transfer back to a queue waits as long as it takes, as any call does."""
        deadline = time.monotonic() + within_s
        routing = self.context.routing
        for agent_id in routing.offered_to(session.interaction_id):
            offers.put(RoutingEvent(event="interaction.offered", at=self.context.engine.clock.now(),
                                    interaction_id=session.interaction_id, agent_id=agent_id))
        while True:
            try:
                offer = offers.get(timeout=None if bridged else max(0.0, deadline - time.monotonic()))
            except Empty:
                return
            if offer is None or call.hungup.is_set():
                return
            if offer.event != "interaction.offered" or offer.agent_id not in routing.offered_to(session.interaction_id):
                continue
            ringing[:] = [offer.agent_id]
            if self._bridge(call, session, offer.agent_id):
                return

    def _abandon_campaign_call(self, call: OutboundCall, interaction_id: int, attempt_id: int, prompt: str) -> None:
        gone = call.hungup.is_set()
        try:
            self.context.routing.abandon(interaction_id, "customer hung up" if gone else "no agent free in time")
        except RoutingError as exc:
            log.info("campaign interaction %s: not abandoned: %s", interaction_id, exc)
        if not gone:
            try:
                call.run("playback", prompt)
                call.hangup()
            except CallGone:
                pass
        self._campaign_outcome(attempt_id, "abandoned", "customer hung up first" if gone else "no agent free in time",
                               reached=True, answered=True, abandoned=True)

    # After a restart ---------------------------------------------------------------------------

    def reconcile_campaign_calls(self) -> None:
        """Once, when this adapter first reaches its switch: the campaign calls an earlier run
        of this node left. A call still up on the switch cannot be taken back (its socket died
        with that run) and is hung up; each one's attempt is lost and tried again later, a
        customer left waiting is an abandoned call, and an agent who was talking is freed to
        wrap up (the disposition still counts)."""
        if self._reconciled:
            return
        self._reconciled = True
        engine, routing = self.context.engine, self.context.routing
        with engine.store.transaction() as conn:
            left = campaign_attempts.left_over(conn, self.context.node)
        for item in left:
            if item.call_uuid:
                try:
                    self.esl.api(f"uuid_kill {item.call_uuid} NORMAL_CLEARING")  # -ERR if gone: fine
                except ESLError as exc:
                    log.warning("campaign call %s: %s", item.call_uuid, exc)
            try:
                if item.interaction_state in ("queued", "offered"):
                    routing.abandon(item.interaction_id, "the engine restarted during the call")
                elif item.interaction_state == "active" and item.agent_id is not None:
                    routing.end(item.interaction_id, item.agent_id, "call lost")
            except RoutingError as exc:
                log.info("campaign interaction %s: %s", item.interaction_id, exc)
            if item.outcome is None:
                with engine.store.transaction() as conn:
                    campaign_attempts.finish_attempt(conn, item.attempt_id, "lost", engine.clock.now(),
                                                   detail="the engine stopped during the attempt")
        if left:
            log.warning("%d campaign call(s) were under way when this node stopped: settled, tried again later",
                        len(left))

    # Preview ------------------------------------------------------------------------------------

    def campaign_dial(self, command) -> dict:
        """The agent dials the preview they accepted, if the contact rules still allow it."""
        engine = self.context.engine
        now = engine.clock.now()
        with engine.store.transaction() as conn:
            info = campaign_attempts.attempt(conn, interaction_id=command.interaction_id)
            if info is None or info.outcome is not None:
                raise ControlRefused("this is no campaign preview waiting to be dialled")
            facts = campaign_lists.contact_facts(conn, info.id, now)
        state, agent_id = self.context.routing.state(command.interaction_id)
        if state != "active" or agent_id != command.agent_id:
            raise ControlRefused("accept the preview before dialling it")
        answer = verdict(facts, info.campaign, engine.cic.outbound, now)
        if not answer.allowed:
            self._campaign_outcome(info.id, "failed" if answer.retry_at else "refused", f"not dialled: {answer.reason}")
            self._end(command.interaction_id, command.agent_id, outcome="not dialled")
            raise ControlRefused(f"not dialled: {answer.reason}")
        try:
            agent_uuid = self._ring_agent(command.interaction_id, command.agent_id, info.address, "preview",
                                          f"cic_campaign_preview={info.id},")
        except ControlRefused as exc:
            raise ControlRefused(f"your phone did not answer: {exc}") from None
        return {"interaction_id": command.interaction_id, "agent_uuid": agent_uuid, "number": info.address}

    def _preview_result(self, call: OutboundCall, disposition: str) -> None:
        """The preview's customer leg is over: its outcome, from the bridge's disposition."""
        attempt_id = int(call.variable("cic_campaign_preview") or 0)
        if not attempt_id:
            return
        agent_id = int(call.variable("cic_agent_id") or 0) or None
        if disposition == "SUCCESS":
            self._campaign_outcome(attempt_id, "connected", None, reached=True, agent_id=agent_id)
        else:
            self._campaign_outcome(attempt_id, outcome_of(disposition), disposition, agent_id=agent_id)
