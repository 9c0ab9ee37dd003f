"""A caller's conversation with agents, after the first one answered: the steps call controls
ask for (blind transfer, consultation), recording per queue policy, and the end of the call
with every other leg hung up and the agent's work ended. Part of the voice adapter."""

from __future__ import annotations

import logging
import os

from ...esl.connection import ESLError
from ...esl.outbound import CallGone, OutboundCall
from .controls import CallSession, ControlRefused, Step

log = logging.getLogger(__name__)


class Conversations:
    """Mixed into VoiceAdapter: uses its config, context, esl, desk and routing helpers."""

    def recording_policy(self, queue: str | None) -> str:
        found = next((q for q in self.context.engine.cic.queues if q.name == queue), None)
        return found.recording if found else "never"

    def start_recording(self, session: CallSession) -> None:
        path = f"{self.config.recordings.rstrip('/')}/{session.interaction_id}-{session.call.uuid}.wav"
        out = self.esl.api(f"uuid_record {session.call.uuid} start {path}").strip()
        if out.startswith("-ERR"):
            raise ControlRefused(f"the switch could not record: {out[4:].strip()}")
        session.recording = path
        self.context.routing.note(session.interaction_id, "recording_started", agent_id=session.agent_id,
                                  data={"path": path})

    def stop_recording(self, session: CallSession) -> None:
        """Stop (if the call is still up) and put the recording on the interaction's timeline."""
        path, session.recording = session.recording, None
        if path is None:
            return
        if not session.call.hungup.is_set():
            try:
                self.esl.api(f"uuid_record {session.call.uuid} stop {path}")
            except ESLError as exc:
                log.warning("call %s: stopping the recording: %s", session.call.uuid, exc)
        try:
            size = os.path.getsize(path)
        except OSError:
            size = None  # written on the switch's host, not readable here
        self.context.routing.note(session.interaction_id, "recording", agent_id=session.agent_id,
                                  data={"path": path, "bytes": size})

    def _record_from_answer(self, session: CallSession) -> None:
        try:
            self.start_recording(session)
        except (ControlRefused, ESLError) as exc:
            log.error("call %s: queue %s records every call, but: %s", session.call.uuid, session.queue, exc)

    def _converse(self, call: OutboundCall, session: CallSession) -> bool:
        """The caller's conversation with agents, after the first one answered: each time it
        ends, the step a control asked for (transfer, consultation) or the end of the call."""
        on_unbridge = lambda e: e.name == "CHANNEL_UNBRIDGE" and session.unbridged.set()  # noqa: E731
        call.on_event.append(on_unbridge)
        call.hungup.rawlink(lambda _: (session.unbridged.set(), session.decisions.put(None)))
        try:
            while True:
                step, session.next_step = session.next_step, None
                if step is None:
                    self._finish(session)
                    self._survey(call, session.interaction_id)
                    call.hangup()
                    return True
                if step.kind == "transfer":
                    if self._transfer(call, session, step):
                        return True
                    return False  # waits in line again
                self._consultation(call, session, step)
                session.unbridged.wait()
                if call.hungup.is_set():
                    raise CallGone(f"call {call.uuid} has hung up")
        except CallGone:
            self._finish(session)
            return True
        finally:
            call.on_event.remove(on_unbridge)

    def _survey(self, call: OutboundCall, interaction_id: int) -> None:
        """After the agent hangs up, the caller is asked for a score: one key, 1 to 5."""
        surveys = self.context.surveys
        if surveys is None or "interaction" not in surveys.settings.after or "voice" not in surveys.settings.channels:
            return
        survey_id = surveys.ask_in_call(interaction_id)
        if survey_id is None:
            return
        done = call.run("play_and_get_digits",
                        f"1 1 1 5000 # {surveys.settings.voice_prompt} silence_stream://250 cic_csat [1-5]")
        key = done.get("variable_cic_csat") or ""
        if key in ("1", "2", "3", "4", "5"):
            surveys.record(survey_id, int(key), "voice")

    def _transfer(self, call: OutboundCall, session: CallSession, step: Step) -> bool:
        """A blind transfer: True when the call is done with, False when it waits in line."""
        routing, agent_id = self.context.routing, session.agent_id
        assert agent_id is not None
        self._drop_legs(session)
        if step.to == "number":
            routing.note(session.interaction_id, "transferred", agent_id=agent_id,
                         data={"to_number": step.target})
            self._finish(session, outcome="transferred")
            call.run("bridge", f"{{call_timeout={self.config.ring_s}}}{step.dial}")
            call.hangup()
            return True
        queue = step.target if step.to == "queue" else session.queue
        self.stop_recording(session)
        routing.transfer(session.interaction_id, agent_id, queue or "", to_agent_id=step.agent_id,
                         actor=f"agent:{agent_id}")
        session.queue = queue
        session.agent_id = session.agent_uuid = None
        self.desk.sessions.pop(session.interaction_id, None)
        return False

    def _consultation(self, call: OutboundCall, session: CallSession, step: Step) -> None:
        """The caller hears music while the agent talks to the consulted party; then the caller
        is joined to that party (complete, or the agent hung up), back to the agent (cancel, or
        the consulted party hung up), or the call ends (the agent's hang-up control)."""
        routing = self.context.routing
        moh = call.start("playback", self.config.moh)
        decision = session.decisions.get()
        self._stop_music(call, moh)
        if decision is None:
            raise CallGone(f"call {call.uuid} has hung up")
        consult_uuid, agent_uuid, agent_id = session.consult_uuid, session.agent_uuid, session.agent_id
        assert consult_uuid and agent_uuid and agent_id is not None
        session.consult = session.consult_uuid = None
        session.unbridged.clear()
        if decision == "complete":
            try:
                self.desk.api(f"uuid_bridge {call.uuid} {consult_uuid}")
            except (ControlRefused, ESLError) as exc:
                log.warning("call %s: the consulted party is gone (%s); back to the agent", call.uuid, exc)
                decision = "cancel"
        if decision in ("cancel", "hangup"):
            self._kill(consult_uuid)
            routing.note(session.interaction_id, "consult_cancelled", agent_id=agent_id, data={"target": step.target})
            try:
                if decision == "cancel":
                    self.desk.api(f"uuid_bridge {call.uuid} {agent_uuid}")
                    return
            except (ControlRefused, ESLError) as exc:
                log.warning("call %s: the agent's leg is gone too (%s)", call.uuid, exc)
            session.unbridged.set()  # nobody left to talk to: the call ends
            return
        self._kill(agent_uuid)
        self.stop_recording(session)
        if step.agent_id is not None:
            routing.hand_over(session.interaction_id, agent_id, step.agent_id, actor=f"agent:{agent_id}")
            session.agent_id = step.agent_id
        else:
            routing.note(session.interaction_id, "transferred", agent_id=agent_id,
                         data={"to_number": step.target, "attended": True})
            self._end(session.interaction_id, agent_id, outcome="transferred")
            session.agent_id = None
        session.agent_uuid = consult_uuid
        if session.agent_id is not None and self.recording_policy(session.queue) == "always":
            self._record_from_answer(session)

    def _leg_ended(self, event) -> None:
        """During a consultation, the agent hanging up completes the transfer (as on any office
        phone) and the consulted party hanging up brings the agent back to the caller."""
        if event.name != "CHANNEL_HANGUP_COMPLETE" or not event.uuid:
            return
        for session in list(self.desk.sessions.values()):
            if session.consult is not None and event.uuid == session.agent_uuid:
                session.decisions.put("complete")
            elif session.consult is not None and event.uuid == session.consult_uuid:
                session.decisions.put("cancel")

    def _finish(self, session: CallSession, outcome: str = "handled") -> None:
        """The conversation is over: recording on the timeline, the other legs hung up, the
        agent's work ended (wrap-up follows). When only our socket was lost, the conversation
        goes on without us: the call is taken back when it ends (voice_recovery)."""
        if not self._over(session.call):
            self.desk.sessions.pop(session.interaction_id, None)
            return
        self.stop_recording(session)
        self._drop_legs(session)
        if session.agent_uuid and session.agent_uuid != session.call.uuid:
            self._kill(session.agent_uuid)
        if session.agent_id is not None:
            self._end(session.interaction_id, session.agent_id, outcome)
            session.agent_id = None
        self.desk.sessions.pop(session.interaction_id, None)

    def _drop_legs(self, session: CallSession) -> None:
        for leg in [*session.others, *([session.consult_uuid] if session.consult_uuid else [])]:
            self._kill(leg)
        session.others.clear()
        session.supervisors.clear()

    def _kill(self, uuid: str) -> None:
        try:
            self.esl.api(f"uuid_kill {uuid} NORMAL_CLEARING")  # -ERR when it is gone already: fine
        except ESLError as exc:
            log.warning("could not hang up leg %s: %s", uuid, exc)
