"""Simulated calls on the outbound socket: the switch connects to the engine for a new call
(`socket host:port async full`), answers `connect` with the channel's data, and runs the
applications the engine asks for, with the events FreeSWITCH sends for them.

Events are built from the captured ones (captures/outbound-socket.esl): the same headers in the
same order, with this call's values put in, so what the engine reads has FreeSWITCH's shape.
"""

from __future__ import annotations

import time
import uuid as uuidlib
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import gevent
from gevent import socket
from gevent.event import Event
from gevent.queue import Empty, Queue

from cic_engine.esl.protocol import FrameReader, parse_event

from . import wire
from .legs import parse_dial, write_recording

CAPTURE = Path(__file__).with_name("captures") / "outbound-socket.esl"


def _templates() -> tuple[wire.Headers, dict[str, wire.Headers]]:
    frames = FrameReader().feed(CAPTURE.read_bytes())
    connect = list(frames[0].headers.items())
    events: dict[str, wire.Headers] = {}
    for frame in frames:
        if frame.content_type == "text/event-plain":
            body = frame.body
            end = body.find(b"\n\n")
            pairs = wire.header_pairs(body[:end])
            events.setdefault(parse_event(frame).name, [p for p in pairs if p[0] != "Content-Length"])
    return connect, events


CONNECT_TEMPLATE, EVENT_TEMPLATES = _templates()
_NAMES: dict[int, frozenset[str]] = {}  # header names of each template (they live as long as the module)


class SimCall:
    """One inbound call the switch hands to the engine's outbound socket."""

    def __init__(self, switch, target: tuple[str, int], caller: str, caller_name: str = "", destination: str = "100",
                 playback_s: float = 0.05, uuid: str | None = None, variables: dict[str, str] | None = None,
                 direction: str = "inbound"):
        self.switch = switch
        self.target = target
        self.uuid = uuid or str(uuidlib.uuid4())
        self.caller = caller
        self.caller_name = caller_name or caller
        self.destination = destination
        self.direction = direction
        self.playback_s = playback_s
        self.context = "public"
        # what the shipped dialplan (freeswitch/dialplan/public/20_cic_voice.xml) sets on the engine's calls
        line = {"cic_line": "voice", "cic_did": destination} if direction == "inbound" else {}
        self.variables: dict[str, str] = {**line, **(variables or {})}
        self.application = "socket"  # what `show channels` lists: the application running now
        self.playing: str | None = None  # what a playback running now plays (the caller hears it)
        self.pressed: Queue[str] = Queue()
        self.answered = Event()
        if direction == "outbound":
            self.answered.set()  # an originated leg reaches its socket once answered
        self.ended = Event()
        self.hangup_cause: str | None = None
        self.apps: list[tuple[str, str]] = []  # (application, argument) in the order run
        self.replies: list[bytes] = []  # every message sent to the engine, for shape checks
        self._break = Event()
        self._unlinked = Event()
        self.partner = None  # the channel this one is bridged to
        self.held = False
        self.rang: list[str] = []  # agent phones rung, in order
        self.recordings: list[str] = []
        self.started: dict[str, float] = {}  # when each application first ran (monotonic)
        self.parked = False
        self.transfers = 0
        self.bridged_to: str | None = None
        self._sock = None
        self._greenlet: gevent.Greenlet | None = None
        self._running = 0  # applications running now
        self.custom_events: set[str] = set()  # CUSTOM subclasses the call's socket asked for
        self._transferring = False

    # What the test does -------------------------------------------------------------------

    def start(self) -> SimCall:
        self._greenlet = gevent.spawn(self._run)
        return self

    def press(self, digits: str) -> None:
        for digit in digits:
            self.pressed.put(digit)
            self._emit("DTMF", {"DTMF-Digit": digit, "DTMF-Duration": "2000", "DTMF-Source": "RTP"})

    def hang_up(self, cause: str = "NORMAL_CLEARING") -> None:
        """The caller hangs up."""
        gevent.spawn(self._hangup, cause)

    @property
    def name(self) -> str:
        return self.caller

    def wait(self, timeout: float = 10.0) -> None:
        assert self.ended.wait(timeout), f"call {self.uuid} did not end"

    # The wire -----------------------------------------------------------------------------

    def _send(self, data: bytes) -> None:
        self.replies.append(data)
        if self._sock is not None:
            try:
                self._sock.sendall(data)
            except OSError:
                pass

    def _channel_values(self) -> dict[str, str]:
        return {
            "Unique-ID": self.uuid, "Channel-Unique-ID": self.uuid, "Channel-Call-UUID": self.uuid,
            "variable_uuid": self.uuid, "variable_call_uuid": self.uuid,
            "Caller-Caller-ID-Number": self.caller, "Caller-Orig-Caller-ID-Number": self.caller,
            "Channel-Caller-ID-Number": self.caller, "Caller-ANI": self.caller, "Channel-ANI": self.caller,
            "Caller-Caller-ID-Name": self.caller_name, "Caller-Destination-Number": self.destination,
            "Channel-Destination-Number": self.destination, "Caller-Unique-ID": self.uuid,
            "Answer-State": "answered" if self.answered.is_set() else "ringing", "Call-Direction": self.direction,
            **{f"variable_{k}": v for k, v in self.variables.items()},
        }

    def _fill(self, template: wire.Headers, values: dict[str, str]) -> wire.Headers:
        out = [(k, values.get(k, v)) for k, v in template]
        present = _NAMES.get(id(template))
        if present is None:
            present = _NAMES[id(template)] = frozenset(k for k, _ in template)
        out += [(k, v) for k, v in values.items()
                if k not in present and k.startswith(("Application", "DTMF", "variable_", "Other-Leg", "Bridge-"))]
        return out

    def _emit(self, name: str, extra: dict[str, str] | None = None, subclass: str | None = None) -> None:
        now = datetime.now(UTC)
        values = {
            **self._channel_values(), **(extra or {}),
            "Event-Date-Local": now.strftime("%Y-%m-%d %H:%M:%S"), "Event-Date-GMT": format_datetime(now, usegmt=True),
            "Event-Date-Timestamp": str(int(now.timestamp() * 1_000_000)),
            "Event-Sequence": str(next(self.switch.sequence)),
        }
        template = EVENT_TEMPLATES.get(name) or [
            (k, name if k == "Event-Name" else v) for k, v in EVENT_TEMPLATES["CHANNEL_ANSWER"]]
        headers = self._fill(template, values)
        if subclass:
            # switch_event_create_subclass puts Event-Subclass first; a module adds its own headers last.
            headers = [("Event-Subclass", subclass), *headers, *((k, v) for k, v in (extra or {}).items()
                                                                 if k not in dict(headers))]
        if subclass is None or subclass in self.custom_events:  # myevents carries no CUSTOM event unasked
            self._send(wire.plain_event(headers))
        self.switch.emit_headers(name, headers, subclass=subclass)

    def _connect(self) -> socket.socket:
        """The socket application: each address of the dialplan in turn (its hosts loop)."""
        error: OSError = OSError("no address")
        for target in (self.switch.dialplan_sockets if self.transfers else []) or [self.target]:
            try:
                return socket.create_connection(target)
            except OSError as exc:
                error = exc
        raise error

    def _run(self) -> None:
        try:
            self._sock = self._connect()
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as mod_event_socket does
        except OSError as exc:
            if self.direction == "inbound":
                # The socket application fails and the dialplan goes on to its `park`
                # (freeswitch/dialplan): the call waits for the engine to take it back.
                self._sock = None
                self._park()
                return
            self.hangup_cause = f"DESTINATION_OUT_OF_ORDER ({exc})"
            self.ended.set()
            return
        try:
            for line, headers in wire.read_commands(self._sock):
                self._command(line, headers)
                if self.ended.is_set():
                    break
        finally:
            if not self.ended.is_set() and self.direction == "outbound":
                self._hangup("NORMAL_CLEARING")  # an originated leg's inline dialplan has nothing after the socket
            elif not self.ended.is_set() and not self._transferring:
                # The engine went away mid-call: what it started goes on (mod_event_socket does
                # not stop it: an endless music plays until its playback_timeout_sec), then the
                # dialplan's next action (freeswitch/dialplan) parks the call.
                self._sock = None
                gevent.spawn(self._park_when_idle, self.transfers)

    def _park_when_idle(self, run: int) -> None:
        def same_run() -> bool:  # not ended, not transferred meanwhile
            return not self.ended.is_set() and not self._transferring and self.transfers == run
        while (self.bridged_to is not None or self._running) and same_run():
            gevent.sleep(0.01)
        if same_run():
            self._park()

    def _park(self) -> None:
        self.parked = True
        self.application = "park"
        self._emit("CHANNEL_PARK", {"variable_current_application": "park"})

    def transfer(self) -> None:
        """`uuid_transfer <uuid> <destination> XML <context>`: what runs stops, and the call runs
        its dialplan extension again, whose `socket` hands it to the engine."""
        self._transferring = True
        self._break.set()
        old = self._sock
        if old is not None:
            self._send(wire.disconnect_notice("", ("Controlled-Session-UUID", self.uuid)))
            old.close()
        gevent.spawn(self._run_again)

    def _run_again(self) -> None:
        while self._running:
            gevent.sleep(0.005)
        self.parked = False
        self.application = "socket"
        self.transfers += 1
        self._transferring = False
        self._run()

    def _command(self, line: str, headers: dict[str, str]) -> None:
        verb, _, arg = line.partition(" ")
        if verb == "connect":
            values = self._channel_values()
            data = [(k, wire.url_encode(values.get(k, v))) for k, v in CONNECT_TEMPLATE
                    if k not in ("Content-Type", "Reply-Text", "Socket-Mode", "Control")]
            present = {k for k, _ in data}
            data += [(k, wire.url_encode(v)) for k, v in values.items() if k.startswith("variable_") and k not in present]
            data += [("Content-Type", "command/reply"), ("Reply-Text", "%2BOK%0A"), ("Socket-Mode", "async"),
                     ("Control", "full")]
            self._send(wire.message(data))
            if self.direction == "inbound":
                # the socket application parks the call itself (switch_ivr_park): a new call, not a lost one
                self.switch.emit_headers("CHANNEL_PARK", self._fill(EVENT_TEMPLATES["CHANNEL_ANSWER"], {
                    **self._channel_values(), "Event-Name": "CHANNEL_PARK", "variable_current_application": "socket"}))
        elif verb == "myevents":
            self._send(wire.command_reply("+OK Events Enabled"))
        elif verb == "linger":
            self._send(wire.command_reply("+OK will linger"))
        elif verb == "event":
            words = arg.split()
            if "CUSTOM" in words:
                self.custom_events.update(words[words.index("CUSTOM") + 1:])
            self._send(wire.command_reply(f"+OK event listener enabled {words[0]}"))
        elif verb == "api":
            self._send(wire.api_response(self._api(arg)))
        elif verb == "sendmsg":
            self._send(wire.command_reply("+OK"))
            if headers.get("call-command") == "hangup":
                self._hangup(headers.get("hangup-cause", "NORMAL_CLEARING"))  # at once, like the switch
            elif headers.get("call-command") == "execute":
                gevent.spawn(self._execute, headers.get("execute-app-name", ""), headers.get("execute-app-arg", ""),
                             headers.get("Event-UUID") or str(uuidlib.uuid4()))
        else:
            self._send(wire.command_reply("-ERR command not found"))

    def _api(self, arg: str) -> str:
        cmd, _, rest = arg.partition(" ")
        if cmd == "uuid_break" and rest.split()[0] == self.uuid:
            self._break.set()  # lost on an application not yet started: it clears the break (as the switch)
            return "+OK\n"
        return self.switch.api(arg)

    def _execute(self, app: str, arg: str, app_uuid: str) -> None:
        if self.ended.is_set():
            return
        self._running += 1
        try:
            self._execute_one(app, arg, app_uuid)
        finally:
            self._running -= 1

    def _execute_one(self, app: str, arg: str, app_uuid: str) -> None:
        self.apps.append((app, arg))
        self.started.setdefault(app, time.monotonic())
        self.application = app
        application = {"Application": app, "Application-Data": arg, "Application-UUID": app_uuid}
        self._emit("CHANNEL_EXECUTE", application)
        response = "_none_"
        if app == "answer":
            self.answered.set()
            self._emit("CHANNEL_ANSWER")
        elif app == "playback":
            self._break.clear()
            endless = "loops=-1" in arg or "local_stream" in arg
            piece = float(self.variables.get("playback_timeout_sec") or 0) or None  # bounds every playback
            self.playing = arg  # on a bridged call the switch suspends the bridge meanwhile
            self._break.wait(min(self.playback_s, piece or self.playback_s) if not endless else piece)
            self.playing = None
            response = "FILE PLAYED"
        elif app == "play_and_get_digits":
            parts = arg.split()
            timeout_ms, variable = int(parts[3]), parts[7]
            try:
                digit = self.pressed.get(timeout=timeout_ms / 1000)
                self.variables[variable] = digit
            except Empty:
                self.variables.pop(variable, None)
        elif app == "set" and "=" in arg:
            name, _, value = arg.partition("=")
            self.variables[name] = value
        elif app == "hangup":
            self._hangup(arg or "NORMAL_CLEARING")
            return
        elif app == "avmd_start":
            # mod_avmd listens in the background; on a machine its greeting ends with a beep.
            if self.switch.phones.get(self.destination) == "machine":
                gevent.spawn_later(self.switch.greeting_s, self._beep)
        elif app == "avmd_stop":
            pass
        elif app == "record":
            self._record(arg.split()[0])
        elif app == "bridge":
            response = self._bridge(arg, application)
            if response is None:
                return
        if not self.ended.is_set():
            self._emit("CHANNEL_EXECUTE_COMPLETE", {**application, "Application-Response": response})

    def _bridge(self, arg: str, application: dict[str, str]) -> str | None:
        """Ring the dialled phone as the switch's `phones` say it behaves; while bridged, wait
        until this call is unlinked from it (either side hangs up, or uuid_bridge moves one).
        None when the caller has gone."""
        variables, endpoint, _ = parse_dial(arg)
        name = endpoint.rsplit("/", 1)[-1]
        behaviour = self.switch.phones.get(name, "answer")
        self.rang.append(name)
        gevent.sleep(self.switch.ring_s)
        if self.ended.is_set():
            return None
        if behaviour not in ("answer", "machine"):
            cause = {"busy": "USER_BUSY", "invalid": "UNALLOCATED_NUMBER", "unregistered": "USER_NOT_REGISTERED",
                     "reject": "CALL_REJECTED"}.get(behaviour, "NO_ANSWER")
            self.variables["originate_disposition"] = cause
            if self.variables.get("continue_on_fail") != "true":
                self._hangup(cause)  # mod_dptools' bridge hangs the caller up unless continue_on_fail
                return None
            return "_none_"
        leg = self.switch.new_leg(endpoint, variables)
        self._unlinked.clear()
        self.switch.link(self, leg)
        if self.switch.talk_s is not None:
            gevent.spawn_later(self.switch.talk_s, leg.hang_up)
        self._unlinked.wait()
        if self.ended.is_set():
            return None
        self.variables["originate_disposition"] = "SUCCESS"
        self.variables["bridge_hangup_cause"] = "NORMAL_CLEARING"
        return "_none_"

    def _beep(self) -> None:
        if self.ended.is_set():
            return
        self.variables["avmd_detect"] = "TRUE"
        self._emit("CUSTOM", {"Beep-Status": "DETECTED", "Frequency": "1000.0", "Frequency-variance": "0.0",
                              "Amplitude": "4000.0", "Amplitude-variance": "0.0", "Detection-time": "1200"},
                   subclass="avmd::beep")

    def linked(self, other) -> None:
        self.bridged_to = other.name
        self._emit("CHANNEL_BRIDGE", {"Other-Leg-Unique-ID": other.uuid, "Bridge-A-Unique-ID": self.uuid,
                                      "Bridge-B-Unique-ID": other.uuid})

    def unlinked(self, other) -> None:
        self.bridged_to = None
        if not self.hangup_cause:
            self._emit("CHANNEL_UNBRIDGE", {"Other-Leg-Unique-ID": other.uuid, "Bridge-A-Unique-ID": self.uuid,
                                            "Bridge-B-Unique-ID": other.uuid})
        self._unlinked.set()

    def _record(self, path: str) -> None:
        """The caller speaks for the switch's `record_s` (or until hanging up); the switch writes
        8 kHz mono WAV, as FreeSWITCH's record does, if the directory exists."""
        self._break.clear()
        self._break.wait(self.switch.record_s)
        if not write_recording(path, self.switch.record_s):
            return
        self.variables["record_seconds"] = str(max(1, round(self.switch.record_s)))
        self.recordings.append(path)

    def agent_hangs_up(self) -> None:
        """Whoever this call is bridged to hangs up."""
        if self.partner is not None:
            self.partner.hang_up()

    def _hangup(self, cause: str) -> None:
        if self.ended.is_set() or self.hangup_cause:
            return
        self.hangup_cause = cause
        self._break.set()
        self.switch.unlink(self)
        self.switch.stop_recording(self.uuid)
        self.switch.channels.pop(self.uuid, None)
        self._unlinked.set()
        notice = wire.disconnect_notice("", ("Controlled-Session-UUID", self.uuid), ("Content-Disposition", "linger"),
                                        ("Channel-Name", f"sofia/internal/{self.caller}"), ("Linger-Time", "-1"))
        if self.switch.notice_before_hangup_events:
            self._send(notice)
        self._emit("CHANNEL_HANGUP", {"Hangup-Cause": cause, "Answer-State": "hangup"})
        self._emit("CHANNEL_HANGUP_COMPLETE", {"Hangup-Cause": cause, "Answer-State": "hangup"})
        if not self.switch.notice_before_hangup_events:
            self._send(notice)
        self.ended.set()
        gevent.sleep(0)
        if self._sock is not None:
            self._sock.close()
