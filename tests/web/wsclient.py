"""A small blocking WebSocket client on wsproto, for tests that speak to the engine's sockets
the way a browser does (Origin, cookie) but need to misbehave too."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Message,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)


class Refused(Exception):
    def __init__(self, status: int, body: bytes):
        super().__init__(f"WebSocket refused with HTTP {status}: {body[:200]!r}")
        self.status = status
        self.body = body


class WsClient:
    def __init__(self, url: str, origin: str | None = None, cookie: str | None = None, timeout: float = 10):
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
        self.conn = WSConnection(ConnectionType.CLIENT)
        headers = []
        if origin:
            headers.append((b"Origin", origin.encode()))
        if cookie:
            headers.append((b"Cookie", cookie.encode()))
        self.sock.sendall(self.conn.send(Request(host=parts.netloc, target=parts.path or "/", extra_headers=headers)))
        self.pending: list[str] = []
        self.closed: int | None = None
        status, body = None, b""
        while True:
            data = self.sock.recv(65536)
            if not data:
                raise Refused(status or 0, body)
            self.conn.receive_data(data)
            for event in self.conn.events():
                if isinstance(event, AcceptConnection):
                    return
                if isinstance(event, RejectConnection):
                    status = event.status_code
                    if not event.has_body:
                        raise Refused(status, b"")
                elif isinstance(event, RejectData):
                    body += event.data
                    if event.body_finished:
                        raise Refused(status or 0, body)

    def send(self, message: dict | str | bytes) -> None:
        data = json.dumps(message) if isinstance(message, dict) else message
        self.sock.sendall(self.conn.send(Message(data=data)))

    def receive(self, timeout: float = 10) -> dict | None:
        """The next message as JSON; None when the server closed the socket."""
        self.sock.settimeout(timeout)
        parts: list[str] = []
        data = b""  # first what came with the handshake's answer (a greeting sent at once)
        while True:
            if data:
                self.conn.receive_data(data)
            for event in self.conn.events():
                if isinstance(event, TextMessage):
                    parts.append(event.data)
                    if event.message_finished:
                        self.pending.append("".join(parts))
                        parts = []
                elif isinstance(event, Ping):
                    self.sock.sendall(self.conn.send(event.response()))
                elif isinstance(event, CloseConnection):
                    self.closed = event.code
                    try:
                        self.sock.sendall(self.conn.send(event.response()))
                    except Exception:  # noqa: BLE001 - the server may be gone already
                        pass
            if self.pending:
                return json.loads(self.pending.pop(0))
            if self.closed is not None:
                return None
            data = self.sock.recv(65536)
            if not data:
                self.closed = self.closed or 1006
                return None

    def receive_until(self, *kinds: str, timeout: float = 10) -> dict:
        """Skip messages until one of a type in `kinds`."""
        while True:
            message = self.receive(timeout)
            assert message is not None, f"socket closed ({self.closed}) before a {kinds!r} message"
            if message.get("type") in kinds:
                return message

    def drain(self, quiet_s: float = 0.5) -> list[dict]:
        """Every message that arrives until the socket has been quiet for `quiet_s`."""
        got = []
        while True:
            try:
                message = self.receive(quiet_s)
            except TimeoutError:
                return got
            if message is None:
                return got
            got.append(message)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
