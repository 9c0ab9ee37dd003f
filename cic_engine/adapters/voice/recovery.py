"""Calls that lost the engine's socket, and interactions that lost their call: what a voice
adapter puts right when it (re)connects to its switch, and when a call parks. Part of the voice
adapter.

What FreeSWITCH does when the socket of `socket ... async full` closes (read in
mod_event_socket.c and checked on the real switch, tests/realswitch/test_restarts.py): the
application the engine started keeps running; an endless music on hold would play for ever.
Only when it ends does the dialplan go on to its `park` (CHANNEL_PARK, which every node
hears), so music is played in pieces (moh_piece_s). A restarted node does not wait for that:
it asks the switch which calls are the engine's (`cic_line`, set by the shipped dialplan) and
were held by this adapter (`cic_holder`, set when it took them), and takes each back with
`uuid_transfer`, which stops whatever plays. A conversation is left alone: it goes on without
the engine, and the call parks when it ends. The transfer goes through the call's own dialplan extension again (not
`inline`): a call left with the inline dialplan would hand it on to every leg it bridges to,
and an agent phone dialled as `loopback/...` would then run in no context at all.

The socket application parks the call itself as it connects (CHANNEL_PARK with
current_application=socket): that is a new call arriving, not a lost one.
"""

from __future__ import annotations

import logging
import time

import gevent

from ...esl.channels import LiveChannel, parse_show_channels
from ...esl.connection import ESLError
from ...store import calls as store_calls

log = logging.getLogger(__name__)

LINE = "cic_line"  # set by the shipped dialplan on every call it hands to the engine
HOLDER = "cic_holder"  # set by the engine on a call it holds: node/adapter
RECLAIMED = "cic_reclaimed"  # set by the engine on a call it takes back
LOST_RECHECK_S = 3.0  # a call whose socket closed as it hung up is gone from the switch by then
RECLAIM_WINDOW_S = 5.0  # a call taken back reaches our socket within this; not taken twice meanwhile


class LostCalls:
    """Mixed into VoiceAdapter: uses its config, context, esl, server and routing helpers."""

    _reclaiming: dict[str, float]  # call uuid -> when we transferred it back (VoiceAdapter.__init__)

    @property
    def holder(self) -> str:
        return f"{self.context.node}/{self.name}"

    def _own(self, call) -> None:
        """Mark a call we hold; keep a failed bridge from hanging the caller up (FreeSWITCH's
        bridge hangs up the caller on USER_BUSY, NO_ANSWER, USER_NOT_REGISTERED... unless
        continue_on_fail is set: mod_dptools audio_bridge_function); and bound every playback,
        the endless music on hold included (the music starts again after each piece)."""
        call.api(f"uuid_setvar_multi {call.uuid} {HOLDER}={self.holder};continue_on_fail=true;"
                 f"playback_timeout_sec={self.config.moh_piece_s}")

    def channel_var(self, uuid: str, name: str) -> str:
        out = self.esl.api(f"uuid_getvar {uuid} {name}").strip()
        return "" if out == "_undef_" or out.startswith("-ERR") else out

    def _take_back_lost_calls(self) -> None:
        """On connecting to the switch: take back our calls that lost their socket, and close
        the interactions whose call is gone (it ended while nobody listened)."""
        try:
            channels = parse_show_channels(self.esl.api("show channels as json"))
        except Exception as exc:
            log.warning("%s: could not list the switch's calls: %s", self.name, exc)
            return
        held = {call.uuid for call in self.server.calls}
        for channel in channels:
            if channel.direction == "inbound" and channel.uuid not in held:
                try:
                    self._take_back_if_lost(channel)
                except ESLError as exc:
                    log.warning("call %s: could not check whether it is lost: %s", channel.uuid, exc)
        on_switch = {c.uuid for c in channels} | held
        self._close_lost_interactions(lambda call_uuid: call_uuid in on_switch)

    def _take_back_if_lost(self, channel: LiveChannel) -> None:
        if not self.channel_var(channel.uuid, LINE):
            return  # never the engine's (item: unrelated parked calls are left alone)
        if channel.application == "park":
            self._reclaim(channel.uuid, channel.destination, channel.context)  # its socket went away
        elif self.channel_var(channel.uuid, HOLDER) == self.holder and not self.channel_var(channel.uuid, "bridge_to"):
            # Held by this adapter before it restarted: whatever it plays is an orphan. A caller
            # talking to an agent is left talking; the call parks when the conversation ends.
            self._reclaim(channel.uuid, channel.destination, channel.context)

    def _parked(self, event) -> None:
        """A call of ours parks after its socket went away: at once, or when what it was doing
        (a conversation, a prompt) is over."""
        if (event.name == "CHANNEL_PARK" and event.get("Call-Direction", "inbound") == "inbound" and event.uuid
                and event.get(f"variable_{LINE}") and event.get("variable_current_application") != "socket"):
            gevent.spawn(self._reclaim, event.uuid, event.get("Caller-Destination-Number") or "",
                         event.get("Caller-Context") or "")

    def _reclaim(self, uuid: str, destination: str, context: str) -> None:
        if uuid in {call.uuid for call in self.server.calls}:
            return  # parked while we hold it (an application of ours), not lost
        now = time.monotonic()
        if now - self._reclaiming.get(uuid, -RECLAIM_WINDOW_S) < RECLAIM_WINDOW_S:
            return  # being taken back already (the sweep and its park event both saw it)
        self._reclaiming = {u: at for u, at in self._reclaiming.items() if now - at < RECLAIM_WINDOW_S}
        self._reclaiming[uuid] = now
        if not destination or not context:
            log.warning("cannot take back call %s: its dialplan extension is unknown", uuid)
            return
        log.info("taking back call %s (%s in %s)", uuid, destination, context)
        try:
            self.esl.api(f"uuid_setvar {uuid} {RECLAIMED} true")
            out = self.esl.api(f"uuid_transfer {uuid} {destination} XML {context}").strip()
        except ESLError as exc:
            log.warning("could not take back call %s: %s", uuid, exc)
            return
        if out.startswith("-ERR"):
            log.warning("could not take back call %s: %s", uuid, out)
            return
        self.reclaimed += 1

    def _over(self, call) -> bool:
        """Whether a call whose greenlet lost it is over: hung up, or its socket closed and the
        switch no longer has it (a hang-up whose event never reached us). A call still on the
        switch is left to be taken back; it is looked at again shortly, in case it was only
        hanging up, so that an agent is never left busy with a call that is gone."""
        if not call.lost or not self._on_switch(call.uuid):
            return True
        gevent.spawn_later(LOST_RECHECK_S, self._close_if_gone, call.uuid)
        return False

    def _on_switch(self, uuid: str) -> bool:
        try:
            return self.esl.api(f"uuid_exists {uuid}").strip() == "true"
        except ESLError:
            return True  # cannot tell: the sweep on reconnecting decides

    def _close_if_gone(self, uuid: str) -> None:
        if uuid in {call.uuid for call in self.server.calls} or self._on_switch(uuid):
            return  # back on a socket of ours, or still on the line
        self._close_lost_interactions(lambda call_uuid: call_uuid != uuid)

    def _close_lost_interactions(self, on_switch) -> None:
        """Interactions whose call is no longer on the switch (`on_switch(uuid)` is false): the
        caller hung up while the engine was away. Left open, they would wait at the head of the
        queue for ever."""
        with self.context.engine.store.connection() as conn:
            live = store_calls.live_calls(conn, self.name)
        for interaction_id, state, agent_id, call_uuid in live:
            if on_switch(call_uuid):
                continue
            if call_uuid in {call.uuid for call in self.server.calls}:
                continue
            log.info("call %s of interaction %s ended while the engine was away", call_uuid, interaction_id)
            if state == "active" and agent_id is not None:
                self._end(interaction_id, agent_id)
            else:
                self._abandoned(interaction_id)
