"""A real SMTP server for tests (aiosmtpd on loopback, its own thread and loop), which keeps what
it receives and can be told to answer with failures first."""

from __future__ import annotations

import email
import threading
from email import policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from tests.core.test_run import free_port


class _Handler:
    def __init__(self, server: SmtpServer):
        self.server = server

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        with self.server.lock:
            if self.server.failures:
                return self.server.failures.pop(0)
            self.server.received.append(email.message_from_bytes(envelope.content, policy=policy.default))
            self.server.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.server.arrived.set()
        return "250 OK queued"


class SmtpServer:
    def __init__(self):
        self.port = free_port()
        self.received: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.failures: list[str] = []  # answers to give, in order, before accepting: "451 ...", "550 ..."
        self.lock = threading.Lock()
        self.arrived = threading.Event()
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    def start(self) -> SmtpServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()
