"""The supervised inbound event-socket connection to one FreeSWITCH node.

One greenlet owns the socket: it connects, authenticates, subscribes, then reads frames and
hands them out: replies to the command waiting for them (FreeSWITCH answers commands in
order), BACKGROUND_JOB results to their `bgapi` caller by Job-UUID, events to the handlers.
When the connection ends (the switch restarts, the network drops, or the peer sends something
that is not the protocol) every waiting caller gets an ESLError, the socket is dropped, and the
connection comes back with backoff and jitter; `on_connected` then runs again so the owner can
resynchronise (list live channels). Nothing else here retries: a command that fails is the
caller's to handle, not silently repeated.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass

import gevent
from gevent import socket
from gevent.event import AsyncResult, Event

from .framed import ESLError, FramedSocket, completed_later
from .protocol import ESLProtocolError, Frame, command, parse_event, subscribe
from .protocol import Event as ESLEvent

log = logging.getLogger(__name__)
__all__ = ["ESLAuthError", "ESLError", "Endpoint", "InboundConnection"]


class ESLAuthError(ESLError):
    """The switch refused our password: retrying will not help until the config is fixed."""


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    password: str
    events: tuple[str, ...] = ("ALL",)
    connect_timeout_s: float = 5.0
    command_timeout_s: float = 10.0
    backoff_s: float = 0.5
    max_backoff_s: float = 30.0


EventHandler = Callable[[ESLEvent], None]


class InboundConnection:
    def __init__(self, endpoint: Endpoint, name: str = "freeswitch"):
        self.endpoint = endpoint
        self.name = name
        self.on_event: list[EventHandler] = []
        self.on_connected: list[Callable[[], None]] = []
        self.connected = Event()
        self.last_error: str | None = None
        self.connects = 0
        self._link: FramedSocket | None = None
        self._jobs: dict[str, AsyncResult] = {}
        self._greenlet: gevent.Greenlet | None = None
        self._stopping = False

    # Life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._stopping = False
        self._greenlet = gevent.spawn(self._run)

    def stop(self) -> None:
        self._stopping = True
        self._drop("stopping")
        if self._greenlet is not None:
            self._greenlet.kill()
            self._greenlet = None

    def _run(self) -> None:
        backoff = self.endpoint.backoff_s
        while not self._stopping:
            try:
                self._session()
                backoff = self.endpoint.backoff_s  # it was up: start the backoff over
            except ESLAuthError as exc:
                self.last_error = str(exc)
                log.error("%s: %s", self.name, exc)
                backoff = self.endpoint.max_backoff_s
            except (OSError, ESLError, ESLProtocolError) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("%s: connection lost (%s); reconnecting in about %.1fs", self.name, exc, backoff)
            finally:
                self._drop(self.last_error or "disconnected")
            if self._stopping:
                break
            # Jitter keeps many engines from reconnecting to a restarted switch in lockstep.
            gevent.sleep(backoff * random.uniform(0.5, 1.5))
            backoff = min(backoff * 2, self.endpoint.max_backoff_s)

    def _session(self) -> None:
        ep = self.endpoint
        sock = socket.create_connection((ep.host, ep.port), timeout=ep.connect_timeout_s)
        sock.settimeout(None)
        link = self._link = FramedSocket(sock, self.name)
        first = link.read_frame()
        if first.content_type == "text/rude-rejection":
            raise ESLError(f"the switch rejected this address: {first.body.decode(errors='replace').strip()}")
        if first.content_type != "auth/request":
            raise ESLProtocolError(f"expected auth/request, got {first.content_type!r}")
        link.send(command(f"auth {ep.password}"))
        reply = link.read_frame()
        if not reply.reply_text.startswith("+OK"):
            raise ESLAuthError(f"authentication refused: {reply.reply_text}")
        link.send(subscribe("json", ep.events))
        reply = link.read_frame()
        if not reply.reply_text.startswith("+OK"):
            raise ESLError(f"event subscription refused: {reply.reply_text}")
        self.connects += 1
        self.last_error = None
        self.connected.set()
        log.info("%s: connected to %s:%s", self.name, ep.host, ep.port)
        for callback in list(self.on_connected):
            gevent.spawn(self._safely, callback)
        while True:
            self._dispatch(link.read_frame())

    def _drop(self, why: str) -> None:
        self.connected.clear()
        error = ESLError(f"{self.name}: {why}")
        link, self._link = self._link, None
        if link is not None:
            link.close(error)
        jobs, self._jobs = self._jobs, {}
        for result in jobs.values():
            result.set_exception(error)

    # Frames in ----------------------------------------------------------------------------

    def _dispatch(self, frame: Frame) -> None:
        kind = frame.content_type
        if kind in ("command/reply", "api/response"):
            if self._link is None or not self._link.reply(frame):
                raise ESLProtocolError(f"a {kind} nobody asked for")
        elif kind in ("text/event-json", "text/event-plain"):
            event = parse_event(frame)
            if event.name == "BACKGROUND_JOB":
                job = self._jobs.pop(event.get("Job-UUID") or "", None)
                if job is not None:
                    job.set(event.body)
            for handler in list(self.on_event):
                self._safely(handler, event)
        elif kind == "text/disconnect-notice":
            raise ESLError(f"disconnect notice: {frame.body.decode(errors='replace').strip()}")
        elif kind == "text/rude-rejection":
            raise ESLError("rude rejection")
        elif kind == "log/data":
            pass
        else:
            raise ESLProtocolError(f"unknown Content-Type {kind!r}")

    def _safely(self, callback, *args) -> None:
        try:
            callback(*args)
        except Exception:
            log.exception("%s: handler %r failed", self.name, callback)

    # Commands out -------------------------------------------------------------------------

    def _send(self, data: bytes, timeout: float | None) -> Frame:
        link = self._link
        if link is None or not self.connected.is_set():
            raise ESLError(f"{self.name}: not connected ({self.last_error or 'connecting'})")
        return link.request(data, timeout or self.endpoint.command_timeout_s)

    def api(self, cmd: str, timeout: float | None = None) -> str:
        """Run an API command and return its output (FreeSWITCH reports errors as `-ERR ...`
        output, which is returned as it is)."""
        return self._send(command(f"api {cmd}"), timeout).body.decode("utf-8", errors="replace")

    def bgapi(self, cmd: str, job_uuid: str, timeout: float | None = None) -> AsyncResult:
        """Start a background command; the AsyncResult gets its output from BACKGROUND_JOB."""
        return completed_later(self._jobs, job_uuid,
                               lambda: self._send(command(f"bgapi {cmd}", {"Job-UUID": job_uuid}), timeout), "bgapi")
