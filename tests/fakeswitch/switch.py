"""A FreeSWITCH event-socket simulator for tests: the inbound side (auth, event subscriptions in
plain or JSON, api, bgapi with BACKGROUND_JOB, exit), speaking the wire as tests/fakeswitch/wire.py
writes it. Tests drive it (emit events, drop connections, send garbage) to see what the engine
does. Runs on gevent in the test process; no real FreeSWITCH is needed.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid as uuidlib
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime

import gevent
from gevent import socket
from gevent.server import StreamServer

from . import wire
from .calls import SimCall
from .fax import FaxLeg, transmit
from .legs import SimLeg, parse_dial, write_recording

CORE_UUID = "62601309-a107-40ac-a566-6789f07eb057"
HOSTNAME = "fakeswitch"
GOODBYE = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"


class Session:
    """One client on the inbound event socket."""

    def __init__(self, switch: FakeSwitch, sock):
        self.switch = switch
        self.sock = sock
        self.authed = False
        self.format: str | None = None  # "plain" or "json" once subscribed
        self.events: set[str] = set()
        self.subclasses: set[str] = set()  # CUSTOM subclasses asked for
        self.closed = False

    def send(self, data: bytes) -> None:
        if not self.closed:
            try:
                self.sock.sendall(data)
            except OSError:
                self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                self.sock.close()
            except OSError:
                pass

    def wants(self, name: str, subclass: str | None) -> bool:
        if self.format is None:
            return False
        if name == "CUSTOM":
            return "ALL" in self.events or ("CUSTOM" in self.events and (not self.subclasses or subclass in self.subclasses))
        return "ALL" in self.events or name in self.events

    def serve(self) -> None:
        self.send(wire.message([("Content-Type", "auth/request")]))
        for line, headers in wire.read_commands(self.sock):
            self.switch.commands.append(line)
            self.handle(line, headers)
            if self.closed:
                break
        self.close()

    def handle(self, line: str, headers: dict[str, str]) -> None:
        verb, _, arg = line.partition(" ")
        if not self.authed:
            if verb == "auth" and arg == self.switch.password:
                self.authed = True
                self.send(wire.command_reply("+OK accepted"))
            else:
                self.send(wire.command_reply("-ERR invalid"))
                self.send(wire.disconnect_notice(GOODBYE))
                self.close()
            return
        if verb == "event":
            fmt, _, names = arg.partition(" ")
            if fmt not in ("plain", "json"):
                self.send(wire.command_reply(f"-ERR {fmt} is not a supported format"))
                return
            self.format = fmt
            words = names.split()
            # as mod_event_socket reads it: every word after CUSTOM is a subclass, not an event name
            custom_at = words.index("CUSTOM") if "CUSTOM" in words else len(words)
            self.events.update(words[:custom_at + 1])
            self.subclasses.update(words[custom_at + 1:])
            self.send(wire.command_reply(f"+OK event listener enabled {fmt}"))
        elif verb == "api":
            self.send(wire.api_response(self.switch.api(arg)))
        elif verb == "bgapi":
            job = headers.get("Job-UUID") or str(uuidlib.uuid4())
            self.send(wire.command_reply(f"+OK Job-UUID: {job}", ("Job-UUID", job)))
            gevent.spawn(self.switch.background_job, job, arg)
        elif verb == "exit":
            self.send(wire.command_reply("+OK bye"))
            self.send(wire.disconnect_notice(GOODBYE))
            self.close()
        else:
            self.send(wire.command_reply("-ERR command not found"))


class FakeSwitch:
    def __init__(self, password: str = "ClueCon"):
        self.password = password
        self.server = StreamServer(("127.0.0.1", 0), self._accept)
        self.sessions: list[Session] = []
        self.commands: list[str] = []
        self.calls: list[SimCall] = []
        self.channels: dict[str, SimCall | SimLeg] = {}  # live channels by UUID
        self.legs: list[SimLeg] = []  # every leg dialled, in order
        self.recording: dict[str, tuple[str, float]] = {}  # channel -> (file, started) being recorded
        self.recordings: list[str] = []  # files written by uuid_record
        self.api_handlers: dict[str, Callable[[str], str]] = {}
        # the dialplan's `socket host:port|host:port ...` (tried in order, as mod_event_socket
        # does): where a call goes when it runs its extension again (uuid_transfer). Empty: the
        # address the call first went to.
        self.dialplan_sockets: list[tuple[str, int]] = []
        # agent login or number -> "answer" (default), "no-answer", "busy", "machine" (answers, then
        # a voicemail greeting and its beep), "invalid" (UNALLOCATED_NUMBER)
        self.phones: dict[str, str] = {}
        self.greeting_s = 0.3  # a machine's greeting before its beep
        self.ring_s = 0.05  # how long a phone rings before it answers or gives up
        self.record_s = 0.2  # how long a caller speaks into a recording
        self.talk_s: float | None = None  # after this, a bridged agent hangs up (None: when the test says)
        # The real switch's socket thread sends the linger notice as soon as the channel is down,
        # which can be before the hangup events still queued for the socket (mod_event_socket.c,
        # LFLAG_LINGER); the capture had them after. True: the notice first.
        self.notice_before_hangup_events = False
        self.sequence = itertools.count(1000)
        self.core_uuid, self.hostname = CORE_UUID, HOSTNAME
        self.fax_ident = "+86 10 6552 0000"  # the fax lines' station id (the dialplan's fax_ident)
        self.remote_station = "+86 21 5555 0100"  # the station id of fax machines we send to
        self.faxes: list = []  # faxes received on fax lines (tests.fakeswitch.fax.FaxLeg)
        self.sent_faxes: list[dict] = []  # what far-end fax machines got from txfax
        self.started_at = time.monotonic()

    @property
    def port(self) -> int:
        return self.server.server_port

    def start(self) -> FakeSwitch:
        self.server.start()
        return self

    def stop(self) -> None:
        self.drop_connections()
        self.server.stop(timeout=1)

    def _accept(self, sock, address) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        session = Session(self, sock)
        self.sessions.append(session)
        try:
            session.serve()
        finally:
            self.sessions.remove(session)

    # What tests do to it ------------------------------------------------------------------

    def drop_connections(self) -> None:
        for session in list(self.sessions):
            session.close()

    def send_raw(self, data: bytes) -> None:
        """Bytes straight onto every authenticated connection: garbage, half frames..."""
        for session in list(self.sessions):
            if session.authed:
                session.send(data)

    def emit(self, name: str, headers: list[tuple[str, str]], body: str = "", subclass: str | None = None) -> None:
        """An event, with FreeSWITCH's standard headers first, to every subscriber."""
        now = datetime.now(UTC)
        base = [
            ("Event-Name", name), ("Core-UUID", CORE_UUID), ("FreeSWITCH-Hostname", HOSTNAME),
            ("FreeSWITCH-Switchname", HOSTNAME), ("FreeSWITCH-IPv4", "127.0.0.1"), ("FreeSWITCH-IPv6", "::1"),
            ("Event-Date-Local", now.strftime("%Y-%m-%d %H:%M:%S")), ("Event-Date-GMT", format_datetime(now, usegmt=True)),
            ("Event-Date-Timestamp", str(int(now.timestamp() * 1_000_000))), ("Event-Calling-File", "fakeswitch.py"),
            ("Event-Calling-Function", "emit"), ("Event-Calling-Line-Number", "1"),
            ("Event-Sequence", str(next(self.sequence))),
        ]
        if subclass:
            base.insert(0, ("Event-Subclass", subclass))  # switch_event_create_subclass adds it first
        self.emit_headers(name, base + headers, body, subclass)

    def emit_headers(self, name: str, headers: wire.Headers, body: str = "", subclass: str | None = None) -> None:
        """A complete event (standard headers included) to every inbound subscriber."""
        plain = json_ = None
        for session in list(self.sessions):
            if session.wants(name, subclass):
                if session.format == "plain":
                    plain = plain or wire.plain_event(headers, body)
                    session.send(plain)
                else:
                    json_ = json_ or wire.json_event(headers, body)
                    session.send(json_)

    def call(self, target: tuple[str, int], caller: str, **options) -> SimCall:
        """A new inbound call, handed to the engine's outbound socket at `target`."""
        call = SimCall(self, target, caller, **options)
        self.calls.append(call)
        self.channels[call.uuid] = call
        return call.start()

    def leg(self, name: str) -> SimLeg:
        """The newest live leg dialled to `name` (an agent's login or a number)."""
        found = [leg for leg in self.legs if leg.name == name and not leg.ended.is_set()]
        assert found, f"no live leg to {name}: {self.legs}"
        return found[-1]

    # Channels joined and parted ------------------------------------------------------------

    def new_leg(self, endpoint: str, variables: dict[str, str]) -> SimLeg:
        leg = SimLeg(self, variables.get("origination_uuid") or str(uuidlib.uuid4()), endpoint, variables)
        self.legs.append(leg)
        self.channels[leg.uuid] = leg
        return leg

    def link(self, a, b) -> None:
        """Bridge two channels; each leaves whatever it was bridged to first."""
        for x in (a, b):
            if x.partner is not None and x.partner not in (a, b):
                self.unlink(x)
        a.partner, b.partner = b, a
        a.linked(b)
        b.linked(a)

    def unlink(self, x) -> None:
        other, x.partner = x.partner, None
        if other is None:
            return
        if other.partner is x:
            other.partner = None
        x.unlinked(other)
        other.unlinked(x)

    def stop_recording(self, uuid: str) -> None:
        found = self.recording.pop(uuid, None)
        if found is not None:
            path, started = found
            if write_recording(path, max(0.1, time.monotonic() - started)):
                self.recordings.append(path)
            self.emit("RECORD_STOP", [("Unique-ID", uuid), ("Record-File-Path", path)])

    # Commands -----------------------------------------------------------------------------

    def api(self, arg: str) -> str:
        cmd, _, rest = arg.partition(" ")
        handler = self.api_handlers.get(cmd)
        if handler is not None:
            return handler(rest)
        if cmd == "status":
            up = int(time.monotonic() - self.started_at)
            return (f"UP 0 years, 0 days, 0 hours, 0 minutes, {up} seconds, 0 milliseconds, 0 microseconds\n"
                    f"FreeSWITCH (Version 1.10.12-release fakeswitch) is ready\n")
        if arg == "show channels as json":
            live = [c for c in self.calls if not c.ended.is_set()]
            if not live:
                return json.dumps({"row_count": 0}) + "\n"
            rows = [{"uuid": c.uuid, "direction": c.direction, "created": "", "created_epoch": "0",
                     "name": f"sofia/internal/{c.caller}", "state": "CS_EXECUTE", "cid_name": c.caller_name,
                     "cid_num": c.caller, "dest": c.destination, "context": c.context, "application": c.application,
                     "callstate": "ACTIVE", "call_uuid": c.uuid} for c in live]
            return json.dumps({"row_count": len(rows), "rows": rows}, separators=(",", ":")) + "\n"
        if cmd == "originate":
            return self.originate(rest)
        if cmd == "uuid_exists":
            return "true" if rest.strip() in self.channels else "false"
        words = rest.split()
        if cmd == "uuid_hold":
            off = words[:1] == ["off"]
            channel = self.channels.get(words[-1] if words else "")
            if channel is None:
                return "-ERR No such channel!\n"
            channel.held = not off
            self._channel_event(channel, "CHANNEL_UNHOLD" if off else "CHANNEL_HOLD")
            return "+OK Success\n"
        if cmd == "uuid_broadcast":
            # uuid_broadcast <uuid> <path> aleg: the channel hears it instead of its partner
            channel = self.channels.get(words[0] if words else "")
            if channel is None:
                return "-ERR No such channel!\n"
            channel.playing = words[1] if len(words) > 1 else ""
            return "+OK Message sent\n"
        if cmd == "uuid_break":
            channel = self.channels.get(words[0] if words else "")
            if channel is None:
                return "-ERR No such channel!\n"
            channel.playing = None
            if isinstance(channel, SimCall):
                channel._break.set()
            return "+OK\n"
        if cmd == "uuid_bridge":
            a, b = (self.channels.get(u) for u in (words + ["", ""])[:2])
            if a is None or b is None:
                return "-ERR Invalid uuid\n"
            self.link(a, b)
            return f"+OK {b.uuid}\n"
        if cmd == "uuid_record":
            channel = self.channels.get(words[0] if words else "")
            if channel is None or len(words) < 3:
                return "-ERR No such channel!\n" if channel is None else "-USAGE: <uuid> [start|stop] <path>\n"
            if words[1] == "start":
                self.recording[channel.uuid] = (words[2], time.monotonic())
                self.emit("RECORD_START", [("Unique-ID", channel.uuid), ("Record-File-Path", words[2])])
            else:
                self.stop_recording(channel.uuid)
            return "+OK Success\n"
        if cmd == "uuid_recv_dtmf":
            channel = self.channels.get(words[0] if words else "")
            if channel is None:
                return "-ERR No such channel!\n"
            for digit in words[1] if len(words) > 1 else "":
                channel.press(digit)
            return "+OK\n"
        if cmd == "uuid_kill":
            channel = self.channels.get(words[0] if words else "")
            if channel is None or channel.ended.is_set():
                return "-ERR No such channel!\n"
            channel.hang_up(*words[1:2])
            return "+OK\n"
        call = next((c for c in self.calls if rest.split(" ")[0] == c.uuid and not c.ended.is_set()), None)
        if cmd == "uuid_getvar":
            channel = self.channels.get(words[0] if words else "")
            if channel is None:
                return "-ERR No such channel!"
            if words[1:2] == ["bridge_to"]:  # set while bridged, cleared after (switch_ivr_bridge.c)
                return channel.partner.uuid if getattr(channel, "partner", None) is not None else "_undef_"
            return getattr(channel, "variables", {}).get(words[1] if len(words) > 1 else "", "_undef_")
        if cmd in ("uuid_setvar", "uuid_setvar_multi", "uuid_transfer") and call is None:
            return "-ERR No such channel!\n"
        if cmd == "uuid_setvar":
            _, name, value = rest.split(" ", 2)
            call.variables[name] = value
            return "+OK\n"
        if cmd == "uuid_setvar_multi":
            for pair in rest.split(" ", 1)[1].split(";"):
                name, _, value = pair.partition("=")
                call.variables[name] = value
            return "+OK\n"
        if cmd == "uuid_transfer":
            # uuid_transfer <uuid> <destination> XML <context>: the call's extension runs again
            if len(words) < 4 or words[1].startswith("-") or words[2] != "XML":
                return f"-ERR fakeswitch simulates only uuid_transfer <uuid> <dest> XML <context>, not {rest!r}\n"
            call.transfer()
            return "+OK\n"
        return f"-ERR {cmd} Command not found!\n"

    def _channel_event(self, channel, name: str) -> None:
        if isinstance(channel, SimCall):
            channel._emit(name)
        else:
            channel.emit(name)

    def originate(self, arg: str) -> str:
        """`originate {vars}<endpoint> <&app(arg) | 'socket:host:port async full' inline>`: ring the
        phone as `phones` says; once answered, run the application on the new leg."""
        variables, endpoint, app = parse_dial(arg)
        name = endpoint.rsplit("/", 1)[-1]
        behaviour = self.phones.get(name, "answer")
        gevent.sleep(self.ring_s)
        if behaviour not in ("answer", "fax-drop", "voice", "machine"):
            return {"busy": "-ERR USER_BUSY\n", "invalid": "-ERR UNALLOCATED_NUMBER\n"}.get(behaviour, "-ERR NO_ANSWER\n")
        if app.startswith("'socket:"):
            host, port = app.split("socket:", 1)[1].split(" ", 1)[0].rsplit(":", 1)
            call = SimCall(self, (host, int(port)), variables.get("origination_caller_id_number", "0000000000"),
                           destination=name, uuid=variables.get("origination_uuid"), variables=variables,
                           direction="outbound")
            self.calls.append(call)
            self.channels[call.uuid] = call
            call.start()
            return f"+OK {call.uuid}\n"
        app_name, _, app_arg = app.removeprefix("&").partition("(")
        if app_name == "txfax":
            fax = FaxLeg(self, "tx", variables.get("origination_caller_id_number", "0000000000"), name,
                         app_arg.rstrip(")"), variables, uuid=variables.get("origination_uuid"))
            self.channels[fax.uuid] = fax
            gevent.spawn(transmit, self, fax, behaviour)
            return f"+OK {fax.uuid}\n"
        leg = self.new_leg(endpoint, variables)
        leg.application, leg.target = app_name, app_arg.rstrip(")") or None
        if app_name == "eavesdrop":
            whisper_a = variables.get("eavesdrop_whisper_aleg") == "true"
            whisper_b = variables.get("eavesdrop_whisper_bleg") == "true"
            leg.mode = "barge" if whisper_a and whisper_b else "whisper" if whisper_a else "listen"
        elif app_name == "three_way":
            leg.mode = "three_way"
        elif app_name != "park":
            leg.hang_up("INCOMPATIBLE_DESTINATION")
            return f"-ERR application {app_name} is not simulated\n"
        return f"+OK {leg.uuid}\n"

    def background_job(self, job_uuid: str, arg: str) -> None:
        output = self.api(arg)
        cmd, _, rest = arg.partition(" ")
        self.emit("BACKGROUND_JOB", [("Job-UUID", job_uuid), ("Job-Command", cmd), ("Job-Command-Arg", rest)],
                  body=output)
