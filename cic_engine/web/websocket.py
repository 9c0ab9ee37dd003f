"""WebSockets on gevent's pywsgi. wsproto speaks the protocol (sans-IO); this module only moves
its bytes.

pywsgi has read the HTTP request before the application runs, so the handshake is rebuilt
from the WSGI environ and fed to wsproto. The application takes the socket over
(`accept`) and `Handler` then writes no HTTP response of its own. A request the application
refuses (not logged in, wrong origin) gets an ordinary HTTP answer instead.
"""

from __future__ import annotations

import logging
import time
from collections import deque

import gevent
import gevent.lock
from gevent.pywsgi import WSGIHandler
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Pong,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

log = logging.getLogger(__name__)
SOCKET_KEY = "cic.socket"
TAKEN_KEY = "cic.socket.taken"


class Handler(WSGIHandler):
    """pywsgi's handler, letting an application keep the connection of a WebSocket upgrade,
    with a deadline for a request's line and headers (a client sending them a byte at a time
    holds a connection for that long at most; an idle keep-alive connection too) and one for
    each read of its body."""

    header_timeout_s = 10.0
    body_timeout_s = 60.0
    _deadline: gevent.Timeout | None = None

    def handle_one_request(self):
        self._deadline = gevent.Timeout(self.header_timeout_s)
        self._deadline.start()
        try:
            return super().handle_one_request()
        except gevent.Timeout as timeout:
            if timeout is not self._deadline:
                raise
            return None  # closes the connection
        finally:
            self._deadline.close()

    def run_application(self) -> None:
        if self._deadline is not None:
            self._deadline.close()  # the headers are in; the application's time is its own
        self.socket.settimeout(self.body_timeout_s)
        if self.environ.get("HTTP_UPGRADE", "").lower() != "websocket":
            super().run_application()
            return
        self.environ[SOCKET_KEY] = self.socket
        self.result = self.application(self.environ, self.start_response)
        try:
            if self.environ.get(TAKEN_KEY):
                self.close_connection = True  # the WebSocket is over; nothing else goes on this socket
                return
            self.process_result()
        finally:
            self.result = None


class WebSocketRefused(Exception):
    """Not a WebSocket handshake this server can accept."""


class WebSocket:
    """One accepted WebSocket. `receive` is for one greenlet (the connection's own); `send`
    may be called from any greenlet. A peer that stops answering pings is closed."""

    def __init__(self, environ: dict, max_message_bytes: int = 256 * 1024, ping_interval_s: float = 20.0):
        sock = environ.get(SOCKET_KEY)
        if sock is None:
            raise WebSocketRefused("not served by the WebSocket-aware handler")
        self._sock = sock
        sock.settimeout(None)  # a socket stays open while quiet; the pings find a dead peer
        self._conn = WSConnection(ConnectionType.SERVER)
        self._send_lock = gevent.lock.Semaphore()
        self._messages: deque[str | bytes] = deque()
        self._partial: list[str | bytes] = []
        self._partial_bytes = 0
        self.max_message_bytes = max_message_bytes
        self.closed = False
        self.close_code: int | None = None
        self._heard_at = time.monotonic()
        self._pinger: gevent.Greenlet | None = None
        self._handshake(environ)
        environ[TAKEN_KEY] = True
        self._pinger = gevent.spawn(self._keepalive, ping_interval_s) if ping_interval_s else None

    def _handshake(self, environ: dict) -> None:
        path = environ.get("PATH_INFO", "/") + (f"?{environ['QUERY_STRING']}" if environ.get("QUERY_STRING") else "")
        lines = [f"GET {path} HTTP/1.1"]
        for key, value in environ.items():
            if key.startswith("HTTP_"):
                lines.append(f"{key[5:].replace('_', '-').title()}: {value}")
        try:
            self._conn.receive_data(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            events = list(self._conn.events())
        except (RemoteProtocolError, UnicodeEncodeError) as exc:
            raise WebSocketRefused(f"bad WebSocket handshake: {exc}") from None
        if not any(isinstance(e, Request) for e in events):
            raise WebSocketRefused("bad WebSocket handshake")
        self._sock.sendall(self._conn.send(AcceptConnection()))

    def receive(self) -> str | bytes | None:
        """The next whole message; None once the connection is closed."""
        while not self._messages:
            if self.closed:
                return None
            try:
                data = self._sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                self._gone(1006)
                return None
            self._heard_at = time.monotonic()
            try:
                self._conn.receive_data(data)
                self._handle_events()
            except (RemoteProtocolError, LocalProtocolError) as exc:
                log.info("websocket protocol error from peer: %s", exc)
                self.close(1002, "protocol error")
        return self._messages.popleft()

    def _handle_events(self) -> None:
        for event in self._conn.events():
            if isinstance(event, (TextMessage, BytesMessage)):
                self._partial.append(event.data)
                self._partial_bytes += len(event.data)
                if self._partial_bytes > self.max_message_bytes:
                    self.close(1009, f"message over {self.max_message_bytes} bytes")
                    return
                if event.message_finished:
                    first = self._partial[0]
                    self._messages.append("".join(self._partial) if isinstance(first, str) else b"".join(self._partial))
                    self._partial, self._partial_bytes = [], 0
            elif isinstance(event, Ping):
                self._write(self._conn.send(event.response()))
            elif isinstance(event, Pong):
                pass
            elif isinstance(event, CloseConnection):
                self.close_code = event.code
                try:
                    self._write(self._conn.send(event.response()))
                except (OSError, LocalProtocolError):
                    pass
                self._gone(event.code)
                return

    def send(self, message: str | bytes) -> bool:
        """Send one message; False when the connection is gone (the caller drops the peer)."""
        if self.closed:
            return False
        event = TextMessage(data=message) if isinstance(message, str) else BytesMessage(data=message)
        try:
            self._write(self._conn.send(event))
            return True
        except (OSError, LocalProtocolError):
            self._gone(1006)
            return False

    def close(self, code: int = 1000, reason: str = "") -> None:
        if self.closed:
            return
        try:
            self._write(self._conn.send(CloseConnection(code=code, reason=reason)))
        except (OSError, LocalProtocolError):
            pass
        self._gone(code)

    def _write(self, data: bytes) -> None:
        with self._send_lock:  # frames from two greenlets must not interleave
            self._sock.sendall(data)

    def _gone(self, code: int) -> None:
        if self.closed:
            return
        self.closed = True
        self.close_code = self.close_code or code
        if self._pinger is not None and self._pinger is not gevent.getcurrent():
            self._pinger.kill(block=False)
        # A killed pinger keeps its exception's frames, which hold this socket: no reference back,
        # so that both go when the connection does instead of waiting for a full collection.
        self._pinger = None
        try:
            self._sock.close()
        except OSError:
            pass

    def _keepalive(self, interval: float) -> None:
        while not self.closed:
            gevent.sleep(interval)
            if time.monotonic() - self._heard_at > 3 * interval:
                log.info("websocket peer silent for %.0fs; closing", time.monotonic() - self._heard_at)
                self.close(1001, "no answer to pings")
                return
            try:
                self._write(self._conn.send(Ping()))
            except (OSError, LocalProtocolError):
                self._gone(1006)
