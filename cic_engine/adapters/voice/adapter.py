"""The voice channel: calls from one FreeSWITCH node, handed to our outbound socket.

A call is answered, committed as a voice interaction (the caller's number finds the customer),
and waits with music on hold until the router offers it to an agent; it is then bridged to the
agent's phone. The agent answering the bridge accepts the offer; no answer or busy gives the
offer back (the router requeues the call at its place); the caller hanging up while waiting
abandons it; the end of the bridge ends the agent's work on it (wrap-up follows).
"""

from __future__ import annotations

import logging
import os
import uuid as uuidlib
from typing import ClassVar

import gevent
from gevent.queue import Empty, Queue
from pydantic import BaseModel

from ... import logs
from ...esl.connection import Endpoint, ESLError, InboundConnection
from ...esl.outbound import CallGone, OutboundCall, OutboundServer
from ...identity import InvalidIdentity, chat_sender, normalise_phone
from ...models import (
    MAX_ATTACHMENT_BYTES,
    AdapterHealth,
    Attachment,
    Channel,
    ContentPart,
    DeliveryResult,
    IdentityKind,
    InboundContact,
    OutboundMessage,
)
from ...routing.events import RoutingEvent
from ...routing.service import RoutingError
from ...store import calls as store_calls
from ...store import sip as store_sip
from ...store import web_calls as store_web_calls
from .. import AdapterContext
from .campaign import ATTEMPT_VARIABLE, CampaignCalls
from .config import VoiceConfig
from .controls import CallSession, ControlDesk, ControlRefused, Step
from .conversation import Conversations
from .dialing import OutboundCalls
from .ivr import run_ivr
from .phones import REGISTRATION_EVENTS, PhoneRegistrations
from .recovery import RECLAIMED, LostCalls

log = logging.getLogger(__name__)


def take_recording(path: str, attach: bool) -> list[Attachment]:
    """The recording as an attachment, when this host can read it (same host or shared storage)."""
    if not attach:
        return []
    try:
        with open(path, "rb") as fh:
            content = fh.read(MAX_ATTACHMENT_BYTES + 1)
    except OSError as exc:
        log.warning("voicemail %s cannot be read here (%s); the message keeps its path", path, exc)
        return []
    if not content or len(content) > MAX_ATTACHMENT_BYTES:
        return []
    return [Attachment(filename=os.path.basename(path), content_type="audio/wav", content=content)]


# Set by the visitor profile's dialplan (freeswitch/dialplan/cic_webcall.xml): the call's ticket.
WEB_CALL = "cic_web_call"


def _phone_lost(bridge_result) -> bool:
    """Whether the agent's leg of a bridge ended because its media stopped (media_timeout)."""
    return "MEDIA_TIMEOUT" in (bridge_result.get("variable_last_bridge_hangup_cause"),
                               bridge_result.get("variable_bridge_hangup_cause"))


def _routed_to(event: RoutingEvent, action: str) -> bool:
    """The router sent this waiting call to voicemail or a callback (after hours, or an overflow step)."""
    return (event.event in ("interaction.after_hours", "interaction.overflow")
            and event.data.get("action") == action and not event.data.get("skipped"))


# A bridge that never connected reports why in originate_disposition / DIALSTATUS. The agent
# refused only when the phone says so; every other failure (rang out, busy on another call,
# not registered, unreachable) is an offer the agent missed.
_REFUSED = {"CALL_REJECTED", "USER_CHALLENGE"}
DTMF = "caller.dtmf"  # a key the waiting caller pressed, put among the routing events of the wait


class VoiceAdapter(Conversations, OutboundCalls, CampaignCalls, LostCalls):
    kind: ClassVar[str] = "voice"
    Config: ClassVar[type[BaseModel]] = VoiceConfig

    def __init__(self, name: str, config: BaseModel, context: AdapterContext):
        assert isinstance(config, VoiceConfig)
        self.name = name
        self.config = config
        self.context = context
        self.server = OutboundServer(config.bind, self._handle, config.command_timeout_s)
        events = tuple(config.esl_events) + (REGISTRATION_EVENTS if config.require_registered_phone else ())
        self.esl = InboundConnection(Endpoint(config.esl_host, config.esl_port, config.esl_password,
                                              events=events,
                                              command_timeout_s=config.command_timeout_s), name=f"{name} ESL")
        self.desk = ControlDesk(self)
        self.phones = PhoneRegistrations(name, self.esl, context.engine.store, context.engine.clock.now,
                                         config.registrations_check_s)
        self._waiting: dict[int, Queue[RoutingEvent | None]] = {}  # interaction -> its offers
        self._unsubscribe = None
        self._logins: dict[int, str] = {}
        self._reports = {}  # campaign attempt -> the pacer's ear for its outcome
        self._reconciled = False
        self._reclaiming: dict[str, float] = {}
        self.calls_handled = 0
        self.reclaimed = 0

    # Life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        known = {q.name for q in self.context.engine.cic.queues}
        wanted = (self.config.ivr.queues() if self.config.ivr else set()) | {self.config.queue} - {None}
        if self.config.voicemail:
            wanted.add(self.config.voicemail.queue)
        if wanted - known:
            raise ValueError(f"voice adapter {self.name}: no queue named {sorted(wanted - known)} in cic.toml")
        self._unsubscribe = self.context.events.subscribe(self._routing_event)
        self.server.start()
        self.esl.on_connected.append(self._take_back_lost_calls)
        self.esl.on_connected.append(self.reconcile_campaign_calls)
        self.esl.on_event.append(self._parked)
        self.esl.on_event.append(self._leg_ended)
        if self.config.require_registered_phone:
            self.phones.start()
        else:  # the rule is lifted with the setting
            with self.context.engine.store.transaction() as conn:
                store_sip.track_switch(conn, self.name, False)
        self.esl.start()

    def stop(self, timeout: float) -> None:
        if self._unsubscribe:
            self._unsubscribe()
        self.server.stop(timeout=timeout)
        self.phones.stop()
        self.esl.stop()

    def health(self) -> AdapterHealth:
        connected = self.esl.connected.is_set()
        return AdapterHealth(
            ok=connected, state="running" if connected else "degraded", last_error=self.esl.last_error,
            detail={"calls": len(self.server.calls), "waiting": len(self._waiting), "outbound_port": self.server.port,
                    "reclaimed": self.reclaimed, "talking": len(self.desk.sessions)},
        )

    def deliver(self, outbound: OutboundMessage) -> DeliveryResult:
        return DeliveryResult(ok=False, error="voice has no messages to deliver")

    def _routing_event(self, event: RoutingEvent) -> None:
        interaction_id = event.interaction_id
        if event.event == "call.command":
            if event.data.get("action") in ("click_to_call", "campaign_dial") or interaction_id in self.desk.sessions:
                gevent.spawn(self._run_command, int(event.data["command_id"]))
        elif interaction_id in self._waiting:
            if event.event == "interaction.offered" or _routed_to(event, "voicemail") or _routed_to(event, "callback"):
                self._waiting[interaction_id].put(event)
        elif (event.event == "interaction.offered" and event.data.get("channel") == "voice" and event.id is not None
              and self.config.callback is not None and interaction_id not in self.desk.sessions):
            gevent.spawn(self._dial_callback, event)

    # Call commands ------------------------------------------------------------------------

    def _run_command(self, command_id: int) -> None:
        store, now = self.context.engine.store, self.context.engine.clock.now
        with store.connection() as conn:
            command = store_calls.claim(conn, command_id, self.context.node, self.name)
        if command is None:
            return  # another node took it, or the asker gave up
        result, error = None, None
        try:
            result = self.desk.run(command)
        except (ControlRefused, RoutingError, ESLError) as exc:
            error = str(exc)
        except Exception as exc:
            log.exception("call command %s (%s) failed", command.id, command.action)
            error = f"internal error: {type(exc).__name__}"
        with store.connection() as conn:
            store_calls.finish(conn, command.id, now(), result, error)

    # One call -----------------------------------------------------------------------------

    def _handle(self, call: OutboundCall) -> None:
        logs.bind(call_id=call.uuid, adapter=self.name)  # this greenlet's lines carry the call's id
        self.calls_handled += 1
        if call.variable("cic_dial"):
            self._agent_first(call)
            return
        if call.variable(ATTEMPT_VARIABLE):
            try:
                self._own(call)  # its bridge to an agent may fail too: the customer stays on the line
            except CallGone:
                pass  # the campaign's own steps see that it is gone
            self._campaign_answered(call)
            return
        route: dict = {"queue": self.config.queue}
        web_call = call.variable(WEB_CALL)
        if web_call is not None:
            route = self._web_call_route(call, web_call)
            if route is None:
                return
        try:
            self._own(call)
            call.run("answer")
        except CallGone:
            self._caller_left(call, self._ingest(call, **route))  # gone as we answered: on record all the same
            return
        if self.config.ivr is not None and not call.variable(RECLAIMED) and web_call is None:
            try:
                outcome = run_ivr(call, self.config.ivr)
            except CallGone:
                if self._over(call):  # hung up in the menu: still a contact, on record and closed
                    self._ingest(call, needs_agent=False, metadata={"ivr": "hung up in the menu"})
                return
            choice = outcome.choice
            route = {"metadata": {"ivr": " > ".join(outcome.path)}, "queue": self.config.queue}
            if choice is not None and choice.play:
                self._ingest(call, needs_agent=False, **route)  # served by the IVR: on record, closed
                call.hangup()
                return
            if choice is not None:
                route.update(queue=choice.queue, skills=choice.skills, priority=choice.priority,
                             language=choice.language)
        interaction_id = self._ingest(call, **route)
        if call.variable(RECLAIMED) and self._already_served(call, interaction_id):
            return
        offers: Queue[RoutingEvent | None] = Queue()
        self._waiting[interaction_id] = offers
        call.hungup.rawlink(lambda _: offers.put(None))  # wakes the wait below when the caller leaves
        call.on_event.append(lambda e: e.name == "DTMF" and interaction_id not in self.desk.sessions and offers.put(
            RoutingEvent(event=DTMF, at=self.context.engine.clock.now(), data={"digit": e.get("DTMF-Digit") or ""})))
        # The router may have offered it before we listened for that: look once.
        now = self.context.engine.clock.now()
        offered_to, outcome = self.context.routing.waiting_state(interaction_id)
        for agent_id in offered_to:
            offers.put(RoutingEvent(event="interaction.offered", at=now, interaction_id=interaction_id, agent_id=agent_id))
        if outcome == "voicemail":
            offers.put(RoutingEvent(event="interaction.after_hours", at=now, interaction_id=interaction_id,
                                    data={"action": "voicemail"}))
        session = CallSession(interaction_id=interaction_id, call=call,
                              queue=route.get("queue") or self.config.queue or self.context.engine.cic.engine.default_queue)
        try:
            self._wait_and_connect(call, session, offers)
        except CallGone:
            # Gone between two steps of the wait (starting the music, an announcement...).
            self._caller_left(call, interaction_id)
        finally:
            self._waiting.pop(interaction_id, None)
            self.desk.sessions.pop(interaction_id, None)

    def _web_call_route(self, call: OutboundCall, token: str) -> dict | None:
        """A call from the chat widget: its ticket's chat is the caller, and its queue the line.
        A token that is unknown, used or expired is refused: nobody gets in without a ticket."""
        engine = self.context.engine
        with engine.store.transaction() as conn:
            ticket = store_web_calls.take(conn, token, call.uuid, engine.clock.now())
        if ticket is None:
            # On record for the team (a flood of guesses shows there), never in a queue.
            engine.reject(Channel.voice, self.name, "a web call without a valid ticket (unknown, used or expired)",
                          {"call": call.uuid, "caller": call.caller_number or ""}, None)
            call.hangup("CALL_REJECTED")
            return None
        sender, sender_kind = chat_sender(ticket.chat_key, ticket.email, ticket.email_verified)
        metadata = {"web_call": ticket.adapter, "chat": ticket.chat_key}
        if ticket.language:
            metadata["language"] = ticket.language
        return {"queue": ticket.queue, "sender": sender, "sender_kind": sender_kind, "sender_name": ticket.name,
                "metadata": metadata}

    def _already_served(self, call: OutboundCall, interaction_id: int) -> bool:
        """A call taken back after a restart may have been talking when the engine died: the
        conversation is over, so the agent's work ends and so does the call."""
        state, agent_id = self.context.routing.state(interaction_id)
        if state in ("queued", "offered"):
            return False
        if state == "active" and agent_id is not None:
            self._end(interaction_id, agent_id)
        log.info("call %s came back after its conversation (%s); hanging up", call.uuid, state)
        call.hangup()
        return True

    def _ingest(self, call: OutboundCall, metadata: dict[str, str] | None = None, **fields) -> int:
        interaction_id = self._ingest_call(call, metadata, **fields)
        logs.bind(interaction_id=interaction_id)
        log.info("call %s from %s is interaction %s", call.uuid, call.caller_number or "anonymous", interaction_id)
        return interaction_id

    def _ingest_call(self, call: OutboundCall, metadata: dict[str, str] | None = None, **fields) -> int:
        sender = fields.pop("sender", None) or call.caller_number or "anonymous"
        contact = {"channel": Channel.voice, "endpoint": call.destination or self.name, "external_id": call.uuid,
                   "sender_name": call.caller_name or None, **fields,
                   "metadata": {"adapter": self.name, "channel_name": call.channel.get("Channel-Name", ""),
                                **(metadata or {})}}
        try:
            return self.context.engine.ingest(InboundContact(sender=sender, **contact)).interaction_id
        except InvalidIdentity:
            # A withheld or unusable number identifies nobody; the call is still taken, under its own id.
            log.info("call %s: caller number %r identifies nobody; taken as anonymous", call.uuid, call.caller_number)
            return self.context.engine.ingest(InboundContact(
                sender=f"anonymous-call-{call.uuid}", sender_kind=IdentityKind.chat, **contact)).interaction_id

    def _wait_and_connect(self, call: OutboundCall, session: CallSession, offers: Queue) -> None:
        routing = self.context.routing
        interaction_id = session.interaction_id
        moh = None
        while True:
            if (moh is None or moh.ready()) and offers.empty():  # an offer waiting: no music to stop first
                moh = call.start("playback", self.config.moh)
            announce = self.config.announce
            try:
                offer = offers.get(timeout=announce.every_s if announce else None)
            except Empty:
                self._stop_music(call, moh)
                moh = None
                self._announce(call, interaction_id)
                continue
            if offer is None or call.hungup.is_set():
                self._caller_left(call, interaction_id)
                return
            if offer.event == DTMF:
                callback = self.config.callback
                if callback is None or offer.data.get("digit") != callback.key:
                    continue
            if offer.event == DTMF or _routed_to(offer, "callback"):
                self._stop_music(call, moh)
                if self._call_back_later(call, interaction_id, offers, asked=offer.event == DTMF):
                    return
                moh = None
                continue
            if _routed_to(offer, "voicemail"):
                self._stop_music(call, moh)
                self._voicemail(call, offer)
                return
            agent_id = offer.agent_id
            if agent_id is None or agent_id not in routing.offered_to(interaction_id):
                continue  # an offer that was taken back meanwhile (or heard twice)
            self._stop_music(call, moh)  # its outcome does not matter: the caller hanging up is seen below
            moh = None
            if self._bridge(call, session, agent_id):
                return

    @staticmethod
    def _stop_music(call: OutboundCall, moh) -> None:
        """Stop the music and wait until it has stopped, so the next application runs."""
        if moh is not None:
            call.interrupt(moh)

    def _call_back_later(self, call: OutboundCall, interaction_id: int, offers: Queue, asked: bool) -> bool:
        """The caller hangs up and keeps the place in line; an agent's phone rings first when
        it is their turn (_dial_callback). False when the call cannot be called back."""
        settings = self.config.callback
        number = call.caller_number
        try:
            number = normalise_phone(number, self.context.engine.cic.engine.phone_region)
        except InvalidIdentity:
            log.info("call %s: no number to call back (%r); it keeps waiting", call.uuid, call.caller_number)
            return False
        if settings is None or not self.context.routing.request_callback(
                interaction_id, number, actor="caller" if asked else "queue"):
            return False
        # From here an offer is the callback's turn, not this call's: an agent free at once
        # must not have the offer land in a wait that is ending (their phone would never ring).
        self._waiting.pop(interaction_id, None)
        while not offers.empty():
            early = offers.get()
            if early is not None and early.event == "interaction.offered":
                self._routing_event(early)
        call.run("playback", settings.confirm)
        call.hangup()
        return True

    def _bridge(self, call: OutboundCall, session: CallSession, agent_id: int) -> bool:
        """Ring the offered agent's phone and connect. True when the call is done with (talked,
        or the caller left); False when the call waits again (the agent did not answer, or a
        transfer put it back in line)."""
        routing = self.context.routing
        interaction_id = session.interaction_id
        login = self._login(agent_id)
        phone = self.desk.agent_phone(login)
        agent_uuid = str(uuidlib.uuid4())
        bridged: list[bool] = []

        def on_bridge(event) -> None:
            if event.name == "CHANNEL_BRIDGE" and not bridged:
                bridged.append(True)  # the agent answered: that is the accept
                # The session is here before the accept commits: a control asked as soon as the
                # interaction shows active must find it (call.command is heard only once).
                session.agent_id, session.agent_uuid = agent_id, agent_uuid
                self.desk.sessions[interaction_id] = session
                try:
                    routing.accept(interaction_id, agent_id)
                except RoutingError as exc:
                    log.warning("call %s: bridged but the offer was gone: %s", call.uuid, exc)
                    self.desk.sessions.pop(interaction_id, None)
                    session.agent_id = session.agent_uuid = None
                    return
                if self.recording_policy(session.queue) == "always":
                    gevent.spawn(self._record_from_answer, session)

        call.on_event.append(on_bridge)
        try:
            # park_after_bridge: an agent leg the caller is taken from (a consultation) stays up.
            # originate_timeout bounds the ringing on every endpoint kind; call_timeout is read
            # by user/ and group/ only.
            result = call.run("bridge", f"{{originate_timeout={self.config.ring_s},call_timeout={self.config.ring_s},"
                                        f"origination_uuid={agent_uuid},"
                                        f"park_after_bridge=true,cic_interaction={interaction_id},cic_agent={login}}}"
                                        f"{phone}")
        except CallGone:
            if bridged:
                self._finish(session)
            elif not self._over(call):
                self._give_back(interaction_id, agent_id, "the call's socket was lost")
            else:
                self._abandoned(interaction_id)  # withdraws the ringing offer, with no blame on the agent
            return True
        finally:
            call.on_event.remove(on_bridge)
        if bridged:
            if session.next_step is None and _phone_lost(result):
                # The agent's phone went silent mid-call (a browser tab that died): the caller
                # has done nothing wrong and waits for the next agent, not a dead line.
                log.warning("call %s: agent %s's phone was lost mid-call; back in line", call.uuid, login)
                routing.note(interaction_id, "agent_phone_lost", agent_id=agent_id)
                session.next_step = Step(kind="transfer", to="queue", target=session.queue or "")
            return self._converse(call, session)
        disposition = result.get("variable_originate_disposition") or result.get("variable_DIALSTATUS") or ""
        log.info("call %s: agent %s did not take it (%s)", call.uuid, login, disposition or "no answer")
        self._give_back(interaction_id, agent_id, disposition or "no answer",
                        missed=disposition.upper() not in _REFUSED)
        return False

    def _login(self, agent_id: int) -> str:
        """An agent's login (what their phone is dialled by); logins do not change."""
        login = self._logins.get(agent_id)
        if login is None:
            login = self._logins[agent_id] = self.context.routing.status(agent_id).login
        return login

    # Voicemail and announcements ------------------------------------------------------------

    def _voicemail(self, call: OutboundCall, why: RoutingEvent) -> None:
        """The caller leaves a message; it waits for an agent as a voice interaction of its own
        with the recording attached. Hanging up ends the recording, not the message."""
        settings = self.config.voicemail
        if settings is None:
            log.error("call %s: voicemail asked for (%s) but %s has no [voicemail]", call.uuid, why.event, self.name)
            call.run("playback", self.config.closed_prompt)
            call.hangup()
            return
        recording = f"{settings.directory.rstrip('/')}/{call.uuid}.wav"
        seconds = 0
        try:
            call.run("playback", settings.greeting)
            done = call.run("record", f"{recording} {settings.max_s} 200 {settings.silence_s}")
            seconds = int(done.get("variable_record_seconds") or 0)
            call.hangup()
        except CallGone:
            pass  # the usual way a message ends
        message = take_recording(recording, settings.attach)
        self._ingest(
            call, external_id=f"{call.uuid}:voicemail", queue=settings.queue, subject="Voicemail",
            parts=[ContentPart(body=f"Voicemail from {call.caller_number or 'an unknown number'}"
                                    + (f", {seconds} s" if seconds else ""))],
            attachments=message, metadata={"recording": recording, "reason": why.event.removeprefix("interaction.")},
        )

    def _announce(self, call: OutboundCall, interaction_id: int) -> None:
        announce = self.config.announce
        assert announce is not None
        place, wait_s = self.context.routing.place_in_line(interaction_id)
        if place is None:
            return  # being offered right now
        call.run("playback", announce.position_prompt)
        call.run("say", f"{announce.language} number pronounced {place}")
        if wait_s is not None:
            call.run("playback", announce.wait_prompt)
            call.run("say", f"{announce.language} number pronounced {max(1, round(wait_s / 60))}")
            call.run("playback", announce.minutes_prompt)
        if self.config.callback is not None:
            call.run("playback", self.config.callback.prompt)

    # Routing results ------------------------------------------------------------------------

    def _give_back(self, interaction_id: int, agent_id: int, reason: str, missed: bool = False) -> None:
        try:
            self.context.routing.give_back(interaction_id, agent_id, reason, missed=missed)
        except RoutingError as exc:
            log.info("offer of %s already gone: %s", interaction_id, exc)

    def _end(self, interaction_id: int, agent_id: int, outcome: str = "handled") -> None:
        try:
            self.context.routing.end(interaction_id, agent_id, outcome)
        except RoutingError as exc:
            log.warning("interaction %s: could not end: %s", interaction_id, exc)

    def _caller_left(self, call: OutboundCall, interaction_id: int) -> None:
        """The caller hung up: the interaction is abandoned. A socket lost with the call still
        up is not a hang-up: the call waits on the switch and is taken back (voice_recovery)."""
        if not self._over(call):
            log.warning("call %s: its socket was lost; interaction %s waits to be taken back", call.uuid, interaction_id)
            return
        self._abandoned(interaction_id)

    def _abandoned(self, interaction_id: int) -> None:
        try:
            self.context.routing.abandon(interaction_id, "caller hung up")
        except RoutingError as exc:
            log.info("interaction %s: not abandoned: %s", interaction_id, exc)
