"""Whose phones the switch has registered (desk SIP phones and the inbox's softphone alike),
kept in the database so that the routers offer calls only to agents something would ring for
(`require_registered_phone` in the voice adapter's file).

The switch is the truth: its registrations are read with `show registrations as json` when the
event socket connects, whenever sofia says a phone registered, unregistered or expired, and
every `registrations_check_s` besides (a WebSocket that died without a word is dropped by the
switch without an event on every path)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import gevent

from ...esl.connection import ESLError, InboundConnection
from ...store import Store
from ...store import sip as store_sip

log = logging.getLogger(__name__)

# What the event socket subscribes to besides the adapter's own events.
REGISTRATION_EVENTS = ("CUSTOM", "sofia::register", "sofia::unregister", "sofia::expire")


def registered_logins(answer: str) -> set[str]:
    """The users of `show registrations as json` (an empty table answers with no rows)."""
    text = answer.strip()
    if not text.startswith("{"):
        raise ValueError(f"not a registrations listing: {text[:80]!r}")
    return {row["reg_user"] for row in json.loads(text).get("rows", []) if row.get("reg_user")}


class PhoneRegistrations:
    def __init__(self, switch: str, esl: InboundConnection, store: Store, now: Callable, check_s: float):
        self.switch = switch
        self.esl = esl
        self.store = store
        self.now = now
        self.check_s = check_s
        self._pending = False
        self._loop = None

    def start(self) -> None:
        self.esl.on_connected.append(self.read)
        self.esl.on_event.append(self._heard)
        self._loop = gevent.spawn(self._every_while)

    def stop(self) -> None:
        if self._loop:
            self._loop.kill(block=False)

    def _heard(self, event) -> None:
        if event.name == "CUSTOM" and event.subclass in REGISTRATION_EVENTS[1:] and not self._pending:
            self._pending = True  # a burst of registrations is one read
            gevent.spawn_later(0.05, self.read)

    def _every_while(self) -> None:
        while True:
            gevent.sleep(self.check_s)
            if self.esl.connected.is_set():
                self.read()

    def read(self) -> None:
        """Ask the switch and write down what it said. While the switch cannot be asked, what was
        last read stands: a restart of the event socket does not unregister anybody."""
        self._pending = False
        try:
            logins = registered_logins(self.esl.api("show registrations as json"))
        except (ESLError, ValueError) as exc:
            log.warning("%s: could not read the switch's registrations: %s", self.switch, exc)
            return
        with self.store.transaction() as conn:
            came, went = store_sip.set_registered(conn, self.switch, logins, self.now())
        if came or went:
            log.info("%s: phones registered %s, gone %s", self.switch, sorted(came), sorted(went))
