"""Per-call control over FreeSWITCH's outbound socket: the dialplan hands a call to us with
`socket <engine>:<port> async full`, and one greenlet per call drives it.

Each application we run carries our own Event-UUID, which FreeSWITCH reports back as the
Application-UUID of its CHANNEL_EXECUTE_COMPLETE, so a result is matched to the command that
started it, never to another run of the same application. When the caller hangs up, everything
still waiting for the call gets CallGone at once.

We do not use greenswitch's OutboundESLServer here: it polls accept() every 100 ms, exits the
process when it cannot bind, matches results by application name, and parses with its own
reader, which URL-decodes before splitting lines (tests/voice/test_esl_protocol.py shows the
forged header that allows).
"""

from __future__ import annotations

import logging
import uuid as uuidlib
from collections.abc import Callable

import gevent
from gevent.event import AsyncResult, Event
from gevent.queue import Queue
from gevent.server import StreamServer

from .framed import ESLError, FramedSocket, completed_later
from .protocol import ESLProtocolError, Frame, command, execute, parse_event, sendmsg
from .protocol import Event as ESLEvent

log = logging.getLogger(__name__)


class CallGone(ESLError):
    """The caller hung up (or the switch dropped the call) while we were working on it."""


class Running:
    """An application started on the call: `started` is set when the switch begins it
    (CHANNEL_EXECUTE), `done` gets its CHANNEL_EXECUTE_COMPLETE (or CallGone)."""

    def __init__(self, app_uuid: str, done: AsyncResult, started: Event):
        self.app_uuid, self.done, self.started = app_uuid, done, started

    def ready(self) -> bool:
        return self.done.ready()

    def wait(self, timeout: float | None = None):
        return self.done.wait(timeout=timeout)

    def get(self, timeout: float | None = None):
        return self.done.get(timeout=timeout)


class OutboundCall:
    def __init__(self, sock, address, command_timeout_s: float = 10.0):
        self.link = FramedSocket(sock, f"call from {address[0]}:{address[1]}")
        self.command_timeout_s = command_timeout_s
        self.channel: dict[str, str] = {}
        self.hungup = Event()
        self.hangup_cause: str | None = None
        self.lost = False  # the connection closed with the call still up (no hangup event)
        self.dtmf: Queue[str] = Queue()
        self.on_event: list[Callable[[ESLEvent], None]] = []
        self._apps: dict[str, AsyncResult] = {}
        self._starting: dict[str, Event] = {}
        self._reader: gevent.Greenlet | None = None

    @property
    def uuid(self) -> str:
        return self.channel.get("Unique-ID", "")

    @property
    def caller_number(self) -> str:
        return self.channel.get("Caller-Caller-ID-Number", "")

    @property
    def caller_name(self) -> str:
        return self.channel.get("Caller-Caller-ID-Name", "")

    @property
    def destination(self) -> str:
        return self.channel.get("Caller-Destination-Number", "")

    def variable(self, name: str) -> str | None:
        return self.channel.get(f"variable_{name}")

    # Setup --------------------------------------------------------------------------------

    def setup(self) -> None:
        """`connect` (the switch answers with the whole channel), then our events and linger,
        so that the hangup events still reach us after the caller is gone."""
        self.link.send(command("connect"))
        reply = self.link.read_frame()
        if reply.content_type != "command/reply" or not reply.reply_text.startswith("+OK"):
            raise ESLProtocolError(f"connect answered with {reply.content_type!r} {reply.reply_text!r}")
        self.channel = dict(reply.headers)
        self._reader = gevent.spawn(self._read)
        self._request(command("myevents"))
        self._request(command("linger"))

    def subscribe(self, *names: str) -> None:
        """Events beyond this call's own (`myevents`), e.g. CUSTOM fax results."""
        self._request(command(f"event plain {' '.join(names)}"))

    def _request(self, data: bytes) -> Frame:
        if self.hungup.is_set():
            raise CallGone(f"call {self.uuid} has hung up ({self.hangup_cause})")
        try:
            return self.link.request(data, self.command_timeout_s)
        except CallGone:
            raise
        except ESLError as exc:
            if self.hungup.is_set():
                raise CallGone(f"call {self.uuid} has hung up ({self.hangup_cause})") from exc
            raise

    # Frames in ----------------------------------------------------------------------------

    def _read(self) -> None:
        error: Exception = CallGone(f"call {self.uuid}: connection closed")
        lingering = False
        try:
            while True:
                frame = self.link.read_frame()
                kind = frame.content_type
                if kind in ("command/reply", "api/response"):
                    if not self.link.reply(frame):
                        raise ESLProtocolError(f"a {kind} nobody asked for")
                elif kind in ("text/event-plain", "text/event-json"):
                    self._event(parse_event(frame))
                elif kind == "text/disconnect-notice":
                    if frame.headers.get("Content-Disposition") != "linger":
                        break
                    # The switch sends this as the channel goes down, which can be before the
                    # hangup events still queued for us: read on until it closes the socket.
                    lingering = True
                else:
                    raise ESLProtocolError(f"unknown Content-Type {kind!r}")
        except (ESLError, ESLProtocolError, OSError) as exc:
            if not self.hungup.is_set() and not lingering:
                log.warning("call %s: connection lost: %s", self.uuid, exc)
                error = CallGone(f"call {self.uuid}: {exc}")
        finally:
            self.lost = not self.hungup.is_set() and not lingering
            self._gone(self.hangup_cause or ("hangup" if lingering else "connection closed"))
            self.link.close(error)
            for result in self._apps.values():
                result.set_exception(error)
            self._apps.clear()

    def _event(self, event: ESLEvent) -> None:
        if event.name == "CHANNEL_EXECUTE":
            started = self._starting.pop(event.get("Application-UUID") or "", None)
            if started is not None:
                started.set()
        elif event.name == "CHANNEL_EXECUTE_COMPLETE":
            app_uuid = event.get("Application-UUID") or ""
            self._starting.pop(app_uuid, Event()).set()
            result = self._apps.pop(app_uuid, None)
            if result is not None:
                result.set(event)
        elif event.name == "DTMF":
            self.dtmf.put(event.get("DTMF-Digit") or "")
        elif event.name in ("CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE"):
            self.hangup_cause = event.get("Hangup-Cause") or self.hangup_cause
            self._gone(self.hangup_cause or "hangup")
        for handler in list(self.on_event):
            try:
                handler(event)
            except Exception:
                log.exception("call %s: event handler failed", self.uuid)

    def _gone(self, cause: str) -> None:
        if self.hungup.is_set():
            return
        self.hangup_cause = self.hangup_cause or cause
        self.hungup.set()
        error = CallGone(f"call {self.uuid} has hung up ({self.hangup_cause})")
        apps, self._apps = self._apps, {}
        for result in apps.values():
            result.set_exception(error)
        starting, self._starting = self._starting, {}
        for started in starting.values():
            started.set()

    # Commands -----------------------------------------------------------------------------

    def start(self, app: str, arg: str = "") -> Running:
        """Run an application; its `done` gets its CHANNEL_EXECUTE_COMPLETE event (or CallGone).
        Use for what runs while we wait for something else (music on hold)."""
        app_uuid = str(uuidlib.uuid4())
        started = self._starting[app_uuid] = Event()
        try:
            done = completed_later(self._apps, app_uuid,
                                   lambda: self._request(execute(None, app, arg, event_uuid=app_uuid)), app)
        except BaseException:
            self._starting.pop(app_uuid, None)
            raise
        return Running(app_uuid, done, started)

    def run(self, app: str, arg: str = "", timeout: float | None = None) -> ESLEvent:
        """Run an application and wait until it completes."""
        result = self.start(app, arg)
        try:
            return result.get(timeout=timeout)
        except gevent.Timeout:
            raise ESLError(f"{app} did not complete within {timeout}s") from None

    def api(self, cmd: str) -> str:
        return self._request(command(f"api {cmd}")).body.decode("utf-8", errors="replace")

    def interrupt(self, running: Running, timeout: float = 5.0) -> None:
        """Stop an application we started and wait for its end. A break that reaches the switch
        before the application has begun is lost (switch_core_session_execute_application
        clears CF_BREAK as it starts one): wait until it has begun, then break."""
        if running.ready():
            return
        running.started.wait(timeout=timeout)
        if not running.ready():
            self.stop_media()
        running.wait(timeout=timeout)

    def stop_media(self) -> None:
        """End the application the call is running (music on hold) so that the next one runs.
        Not `uuid_break ... all`: that also flushes applications still queued, which then never
        report their end."""
        self.api(f"uuid_break {self.uuid}")

    def hangup(self, cause: str = "NORMAL_CLEARING") -> None:
        if self.hungup.is_set():
            return
        try:
            self._request(sendmsg(None, "hangup", hangup_cause=cause))
        except CallGone:
            return
        # Linger keeps the socket open for the hangup events: wait for them before letting go.
        self.hungup.wait(timeout=self.command_timeout_s)

    def close(self) -> None:
        self.link.abort()
        if self._reader is not None:
            self._reader.join(timeout=5)


class OutboundServer:
    """Accepts the calls FreeSWITCH hands over and runs `handle(call)` for each in its own greenlet."""

    def __init__(self, bind: tuple[str, int], handle: Callable[[OutboundCall], None], command_timeout_s: float = 10.0):
        self.handle = handle
        self.command_timeout_s = command_timeout_s
        self.server = StreamServer(bind, self._accept)
        self.calls: set[OutboundCall] = set()

    @property
    def port(self) -> int:
        return self.server.server_port

    def start(self) -> None:
        self.server.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.server.stop(timeout=timeout)

    def _accept(self, sock, address) -> None:
        call = OutboundCall(sock, address, self.command_timeout_s)
        self.calls.add(call)
        try:
            call.setup()
            self.handle(call)
        except CallGone as exc:
            log.info("call %s ended: %s", call.uuid or address, exc)
        except (ESLError, ESLProtocolError, OSError) as exc:
            log.warning("call %s failed: %s", call.uuid or address, exc)
        except Exception:
            log.exception("call %s: handler failed", call.uuid or address)
        finally:
            self.calls.discard(call)
            call.close()
