"""Controls on a live call, run by the voice adapter that holds it: hold, blind and attended
transfer, three-way conference, hang up, supervisor listen / whisper / barge, recording.

The caller's channel stays on our outbound socket for the whole call; the other legs (the
agent, a consulted party, a conference party, a supervisor) are driven with `api` commands on
the node's event socket by their UUIDs, which we choose when we dial them (origination_uuid).
When a control takes the agent away from the caller (a transfer, a consultation), the caller's
greenlet gets the call back and does the next step (voice.py): wait in a queue, hear music,
be joined to someone else.
"""

from __future__ import annotations

import logging
import re
import uuid as uuidlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import gevent
from gevent.event import Event
from gevent.queue import Queue

from ...esl.connection import ESLError
from ...identity import InvalidIdentity, normalise_phone
from ...routing.service import RoutingError

if TYPE_CHECKING:
    from ...esl.connection import InboundConnection
    from ...esl.outbound import OutboundCall
    from ...store.calls import CallCommand
    from .. import AdapterContext
    from .config import VoiceConfig

log = logging.getLogger(__name__)

SAFE_LOGIN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
# FreeSWITCH's eavesdrop reads these keys from the listener: 0 listen only, 2 talk to the
# channel listened to (the agent), 3 talk to both.
EAVESDROP_KEYS = {"listen": "0", "whisper": "2", "barge": "3"}
EAVESDROP_VARS = {"listen": "", "whisper": "eavesdrop_whisper_aleg=true,",
                  "barge": "eavesdrop_whisper_aleg=true,eavesdrop_whisper_bleg=true,"}


class ControlRefused(RuntimeError):
    """A control that cannot be done on this call now; the message is for the agent."""


@dataclass
class Step:
    """What the caller's greenlet does when its conversation with the agent ends."""

    kind: str  # "transfer", "consult"
    to: str = ""  # queue, agent, number
    target: str = ""
    agent_id: int | None = None  # the agent transferred to
    dial: str = ""


@dataclass
class CallSession:
    """One call with an interaction, while this node holds it."""

    interaction_id: int
    call: OutboundCall
    queue: str | None
    outbound: bool = False  # our socket holds the agent's leg (click-to-call, callback)
    agent_id: int | None = None
    agent_uuid: str | None = None  # the leg of the agent talking to the caller now
    held: bool = False
    hold_music: Any = None  # the piece of music on hold playing now (esl.outbound.Running)
    held_partner: str | None = None  # a call we made: the customer's leg the music is broadcast to
    next_step: Step | None = None
    consult_uuid: str | None = None
    consult: Step | None = None
    decisions: Queue = field(default_factory=Queue)  # "complete" / "cancel" while consulting
    recording: str | None = None
    others: dict[str, str] = field(default_factory=dict)  # conference and supervisor legs: uuid -> who
    supervisors: dict[int, str] = field(default_factory=dict)  # supervisor agent id -> leg uuid
    unbridged: Event = field(default_factory=Event)


class VoiceLine(Protocol):
    """What the desk needs of the voice adapter that holds the calls (adapter.VoiceAdapter)."""

    context: AdapterContext
    config: VoiceConfig
    esl: InboundConnection

    def click_to_call(self, command: CallCommand) -> dict: ...

    def campaign_dial(self, command: CallCommand) -> dict: ...

    def channel_var(self, uuid: str, name: str) -> str: ...

    def recording_policy(self, queue: str | None) -> str: ...

    def start_recording(self, session: CallSession) -> None: ...

    def stop_recording(self, session: CallSession) -> None: ...


class ControlDesk:
    """Runs call commands for the sessions of one voice adapter."""

    def __init__(self, adapter: VoiceLine):
        self.adapter = adapter
        self.sessions: dict[int, CallSession] = {}

    @property
    def _routing(self):
        return self.adapter.context.routing

    def run(self, command: CallCommand) -> dict[str, Any]:
        if command.action == "click_to_call":
            return self.adapter.click_to_call(command)
        if command.action == "campaign_dial":
            return self.adapter.campaign_dial(command)
        session = self.sessions.get(command.interaction_id or 0)
        if session is None:
            raise ControlRefused(f"interaction {command.interaction_id} has no live call here")
        if command.action == "supervise":
            return self.supervise(session, command.agent_id, command.args.get("mode", "listen"))
        if session.agent_id is None or command.agent_id != session.agent_id or session.agent_uuid is None:
            raise ControlRefused(f"agent {command.agent_id} is not talking on interaction {session.interaction_id}")
        handler = getattr(self, f"_{command.action}", None)
        if handler is None:
            raise ControlRefused(f"unknown call control {command.action!r}")
        return handler(session, **command.args)

    # Helpers ------------------------------------------------------------------------------

    def api(self, cmd: str) -> str:
        out = self.adapter.esl.api(cmd).strip()
        if out.startswith("-ERR"):
            raise ControlRefused(f"the switch refused {cmd.split()[0]}: {out[4:].strip()}")
        return out

    def record(self, session: CallSession, kind: str, data: dict | None = None) -> None:
        self._routing.note(session.interaction_id, kind, agent_id=session.agent_id, data=data or {})

    def agent_phone(self, login: str) -> str:
        """The dial string of an agent's phone; a login that could smuggle dial-string syntax is refused."""
        if not SAFE_LOGIN.match(login):
            raise ControlRefused(f"agent login {login!r} cannot be dialled")
        return self.adapter.config.agent_endpoint.format(login=login)

    def phone_number(self, raw: str) -> str:
        """An outside number in E.164, or ControlRefused saying why it is not one."""
        try:
            return normalise_phone(raw, self.adapter.context.engine.cic.engine.phone_region)
        except InvalidIdentity as exc:
            raise ControlRefused(str(exc)) from None

    def dial_string(self, to: str, target: str) -> tuple[str, str, int | None]:
        """(dial string, what to call it, agent id) of an agent's phone or a number."""
        if to == "agent":
            try:
                agent_id = self._routing.agent_id(target)
            except RoutingError as exc:
                raise ControlRefused(str(exc)) from None
            return self.agent_phone(target), target, agent_id
        if to == "number":
            number = self.phone_number(target)
            return self.adapter.config.number_endpoint.format(number=number), number, None
        raise ControlRefused(f"cannot call a {to!r}; say agent or number")

    def originate(self, dial: str, app: str, variables: str = "") -> str:
        """Ring a new leg and run `app` on it once answered; its UUID, or ControlRefused with
        why it did not answer."""
        leg = str(uuidlib.uuid4())
        ring = self.adapter.config.ring_s
        job = self.adapter.esl.bgapi(
            f"originate {{origination_uuid={leg},originate_timeout={ring},{variables}}}{dial} {app}", leg)
        try:
            out = str(job.get(timeout=ring + self.adapter.config.command_timeout_s)).strip()
        except ESLError as exc:
            raise ControlRefused(f"could not dial: {exc}") from None
        except Exception:
            raise ControlRefused(f"no answer from the switch within {ring}s") from None
        if not out.startswith("+OK"):
            raise ControlRefused(f"{dial} did not answer ({out.removeprefix('-ERR').strip() or 'no reason'})")
        return leg

    # Agent controls -----------------------------------------------------------------------

    def _hold(self, session: CallSession) -> dict:
        """The caller hears music instead of the agent, and the agent hears nothing. Done with
        the switch's own media, not `uuid_hold`: that asks the agent's endpoint to go on hold,
        and only an endpoint that reports back (a SIP phone acknowledging the re-INVITE) ever
        shows HELD, which `uuid_hold off` requires; on any other leg the call stayed held."""
        if session.held:
            raise ControlRefused("the call is already on hold")
        if session.outbound:
            partner = self.adapter.channel_var(session.call.uuid, "bridge_to")
            if not partner:
                raise ControlRefused("the customer is not on the line yet")
            self.api(f"uuid_broadcast {partner} {self.adapter.config.moh} aleg")
            session.held_partner = partner
        else:
            session.held = True
            started = Event()
            gevent.spawn(self._play_hold_music, session, started)
            started.wait(timeout=self.adapter.config.command_timeout_s)
        session.held = True
        self.record(session, "call_held")
        return {"held": True}

    def _play_hold_music(self, session: CallSession, started: Event) -> None:
        """An application run on a bridged call suspends the bridge until it ends (switch_ivr_
        bridge.c runs the leg's queued applications with the other leg CF_SUSPEND): the music,
        played on the caller's own socket, in pieces as long as the call is held."""
        call = session.call
        try:
            while session.held and not call.hungup.is_set():
                session.hold_music = call.start("playback", self.adapter.config.moh)
                session.hold_music.started.wait(timeout=self.adapter.config.command_timeout_s)
                started.set()
                session.hold_music.wait()
        except ESLError as exc:  # the call ended (CallGone) or the switch refused
            log.info("call %s: hold music ends: %s", call.uuid, exc)
        finally:
            started.set()

    def _unhold(self, session: CallSession) -> dict:
        if not session.held:
            raise ControlRefused("the call is not on hold")
        session.held = False
        if session.held_partner:
            partner, session.held_partner = session.held_partner, None
            self.api(f"uuid_break {partner} all")
        elif session.hold_music is not None:
            session.call.interrupt(session.hold_music)
            session.hold_music = None
        self.record(session, "call_resumed")
        return {"held": False}

    def _hangup(self, session: CallSession) -> dict:
        if session.consult is not None:
            session.decisions.put("hangup")  # the caller waits on music: the caller's greenlet ends it
        else:
            self.api(f"uuid_kill {session.agent_uuid} NORMAL_CLEARING")
        return {"hung_up": True}

    def _transfer(self, session: CallSession, to: str, target: str) -> dict:
        self._transferable(session)
        step = Step(kind="transfer", to=to, target=target)
        if to == "queue":
            queue = next((q for q in self.adapter.context.engine.cic.queues if q.name == target), None)
            if queue is None or "voice" not in queue.channels:
                raise ControlRefused(f"no queue {target!r} that takes calls")
        elif to == "agent":
            _, _, step.agent_id = self.dial_string(to, target)
            status = self._routing.status(step.agent_id)
            if status.state != "available" or status.loads[0] >= status.caps[0]:
                raise ControlRefused(f"{target} cannot take a call now ({status.state})")
        else:
            step.dial, step.target, _ = self.dial_string(to, target)
        session.next_step = step
        self.api(f"uuid_kill {session.agent_uuid} NORMAL_CLEARING")  # the caller's greenlet does the rest
        return {"transferred_to": {"to": to, "target": step.target}}

    def _transferable(self, session: CallSession) -> None:
        if session.outbound:
            raise ControlRefused("transfers of calls the agent made are not supported; use a conference")
        if session.consult is not None:
            raise ControlRefused("a consultation is going on: complete or cancel it first")

    def _consult(self, session: CallSession, to: str, target: str) -> dict:
        self._transferable(session)
        dial, name, agent_id = self.dial_string(to, target)
        if agent_id is not None and agent_id == session.agent_id:
            raise ControlRefused("an agent cannot consult themselves")
        consult_uuid = self.originate(dial, "&park()", f"park_after_bridge=true,cic_interaction={session.interaction_id},")
        session.consult = Step(kind="consult", to=to, target=name, agent_id=agent_id)
        session.consult_uuid = consult_uuid
        session.next_step = session.consult
        # The agent leaves the caller (who hears music: voice.py) for the consulted party.
        self.api(f"uuid_bridge {session.agent_uuid} {consult_uuid}")
        self.record(session, "consult_started", {"to": to, "target": name})
        return {"consulting": name}

    def _complete_transfer(self, session: CallSession) -> dict:
        if session.consult is None:
            raise ControlRefused("no consultation to complete")
        session.decisions.put("complete")
        return {"transferred_to": {"to": session.consult.to, "target": session.consult.target}}

    def _cancel_consult(self, session: CallSession) -> dict:
        if session.consult is None:
            raise ControlRefused("no consultation to cancel")
        session.decisions.put("cancel")
        return {"back_with_caller": True}

    def _conference(self, session: CallSession, to: str, target: str) -> dict:
        dial, name, _ = self.dial_string(to, target)
        leg = self.originate(dial, f"&three_way({session.agent_uuid})", f"cic_interaction={session.interaction_id},")
        session.others[leg] = name
        self.record(session, "conference_joined", {"to": to, "target": name, "uuid": leg})
        return {"joined": name, "uuid": leg}

    def _record_start(self, session: CallSession) -> dict:
        policy = self.adapter.recording_policy(session.queue)
        if policy == "never":
            raise ControlRefused(f"queue {session.queue} does not allow recording")
        if session.recording:
            raise ControlRefused("the call is being recorded already")
        self.adapter.start_recording(session)
        return {"recording": session.recording}

    def _record_stop(self, session: CallSession) -> dict:
        if not session.recording:
            raise ControlRefused("the call is not being recorded")
        if self.adapter.recording_policy(session.queue) == "always":
            raise ControlRefused(f"queue {session.queue} records every call")
        path = session.recording
        self.adapter.stop_recording(session)
        return {"recording": path}

    # Supervisors --------------------------------------------------------------------------

    def supervise(self, session: CallSession, supervisor_id: int | None, mode: str) -> dict:
        if mode not in EAVESDROP_KEYS:
            raise ControlRefused(f"mode must be one of {', '.join(EAVESDROP_KEYS)}")
        if supervisor_id is None:
            raise ControlRefused("who supervises?")
        if session.agent_uuid is None:
            raise ControlRefused("the call is not with an agent yet")
        leg = session.supervisors.get(supervisor_id)
        if leg is not None:
            self.api(f"uuid_recv_dtmf {leg} {EAVESDROP_KEYS[mode]}")  # the line switches mode
        else:
            login = self._routing.status(supervisor_id).login
            leg = self.originate(self.agent_phone(login), f"&eavesdrop({session.agent_uuid})",
                                 f"{EAVESDROP_VARS[mode]}cic_interaction={session.interaction_id},")
            session.supervisors[supervisor_id] = leg
            session.others[leg] = f"supervisor {login}"
        self._routing.note(session.interaction_id, "supervised", agent_id=supervisor_id,
                           data={"mode": mode, "uuid": leg})
        return {"mode": mode, "uuid": leg}
