"""Calls the engine makes: a callback's turn (the reserved agent's phone first, then the
customer's) and click-to-call from the inbox. Part of the voice adapter."""

from __future__ import annotations

import logging
import uuid as uuidlib

from ...esl.outbound import CallGone, OutboundCall
from ...routing.events import RoutingEvent
from ...routing.service import RoutingError
from ...store import calls as store_calls
from .controls import CallSession, ControlRefused

log = logging.getLogger(__name__)


class OutboundCalls:
    """Mixed into VoiceAdapter: uses its config, context, desk and routing helpers."""

    def _dial_callback(self, offer: RoutingEvent) -> None:
        """A callback's turn came: ring the reserved agent; once they answer, the customer
        (_agent_first). One node dials each offer (call_commands.offer_event_id)."""
        assert offer.interaction_id is not None and offer.agent_id is not None and offer.id is not None
        with self.context.engine.store.connection() as conn:
            number = store_calls.claim_callback(conn, offer.id, offer.interaction_id, offer.agent_id,
                                                self.context.node, self.name, self.context.engine.clock.now())
        if number is None:
            return
        try:
            self._ring_agent(offer.interaction_id, offer.agent_id, number, "callback")
        except ControlRefused as exc:
            log.info("callback of %s: %s", offer.interaction_id, exc)
            self._give_back(offer.interaction_id, offer.agent_id, str(exc), missed="NO_ANSWER" in str(exc))

    def click_to_call(self, command) -> dict:
        """An agent calls a customer from the inbox: an outbound voice interaction held by the
        agent; their phone rings first, then the customer's."""
        if command.agent_id is None:
            raise ControlRefused("who calls?")
        number = self.desk.phone_number(str(command.args.get("number", "")))
        queue = command.args.get("queue") or self.config.queue or self.context.engine.cic.engine.default_queue
        with self.context.engine.store.transaction() as conn:
            interaction_id = store_calls.start_outbound(
                conn, command.agent_id, number, self.context.routing.router.queues.ids.get(queue), self.name,
                self.context.engine.clock.now(), f"agent:{command.agent_id}")
        if interaction_id is None:
            status = self.context.routing.status(command.agent_id)
            raise ControlRefused(f"{status.login} cannot make a call now ({status.state})")
        try:
            agent_uuid = self._ring_agent(interaction_id, command.agent_id, number, "click")
        except ControlRefused as exc:
            self._end(interaction_id, command.agent_id, outcome="not connected")
            raise ControlRefused(f"your phone did not answer: {exc}") from None
        return {"interaction_id": interaction_id, "agent_uuid": agent_uuid, "number": number}

    def _ring_agent(self, interaction_id: int, agent_id: int, number: str, kind: str, extra: str = "") -> str:
        return self.desk.originate(
            self.desk.agent_phone(self._login(agent_id)), f"'socket:{self.config.outbound_bind} async full' inline",
            f"cic_interaction={interaction_id},cic_agent_id={agent_id},cic_dial={number},cic_kind={kind},{extra}")

    def _agent_first(self, call: OutboundCall) -> None:
        """Our socket holds the agent's leg of a call we make: then the customer's phone rings."""
        interaction_id, agent_id = int(call.variable("cic_interaction") or 0), int(call.variable("cic_agent_id") or 0)
        number, kind = call.variable("cic_dial") or "", call.variable("cic_kind")
        routing = self.context.routing
        if kind == "callback":
            try:
                routing.accept(interaction_id, agent_id)  # the agent answered
            except RoutingError as exc:
                log.info("callback %s: %s", interaction_id, exc)
                call.hangup()
                return
        with self.context.engine.store.connection() as conn:
            row = conn.execute("SELECT q.name FROM interactions i JOIN queues q ON q.id = i.queue_id WHERE i.id = %s",
                               (interaction_id,)).fetchone()
            queue = row[0] if row else None
        session = CallSession(interaction_id=interaction_id, call=call, queue=queue, outbound=True,
                              agent_id=agent_id, agent_uuid=call.uuid)
        self.desk.sessions[interaction_id] = session
        caller_id = self.config.callback.caller_id if self.config.callback else "0000000000"
        customer_uuid = str(uuidlib.uuid4())
        try:
            result = call.run("bridge", f"{{call_timeout={self.config.ring_s},origination_uuid={customer_uuid},"
                                        f"origination_caller_id_number={caller_id},cic_interaction={interaction_id}}}"
                                        f"{self.config.number_endpoint.format(number=number)}")
            disposition = result.get("variable_originate_disposition", "SUCCESS")
            if kind == "preview":
                self._preview_result(call, disposition)
            if disposition != "SUCCESS":
                why = disposition
                routing.note(interaction_id, "customer_not_reached", agent_id=agent_id, data={"number": number, "why": why})
                self._finish(session, outcome="not reached")
            else:
                self._finish(session)
            call.hangup()
        except CallGone:
            self._finish(session)
        finally:
            self.desk.sessions.pop(interaction_id, None)
