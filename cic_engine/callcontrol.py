"""Call controls for the inbox: hold, transfers, conference, supervision, recording and
click-to-call, asked from any node.

A control is a row in call_commands: the node whose voice adapter holds the call (or, for a
new call, the first voice adapter to take it) runs it against its FreeSWITCH and writes the
result. The asker waits for that result; after its timeout a command still pending is failed,
so it never runs late.
"""

from __future__ import annotations

import time
from typing import Any, Literal

import gevent

from .clock import Clock, SystemClock
from .store import Store
from .store import calls as store_calls

Target = Literal["queue", "agent", "number"]
POLL_S = 0.02


class CallControlError(RuntimeError):
    """The control could not be done; the message says why, for the agent."""


class CallControl:
    def __init__(self, store: Store, clock: Clock | None = None, timeout_s: float = 30.0):
        self.store = store
        self.clock = clock or SystemClock()
        self.timeout_s = timeout_s

    # Agent controls on the agent's own call ----------------------------------------------------

    def hold(self, interaction_id: int, agent_id: int) -> dict:
        return self.request("hold", interaction_id, agent_id)

    def unhold(self, interaction_id: int, agent_id: int) -> dict:
        return self.request("unhold", interaction_id, agent_id)

    def hangup(self, interaction_id: int, agent_id: int) -> dict:
        return self.request("hangup", interaction_id, agent_id)

    def transfer(self, interaction_id: int, agent_id: int, to: Target, target: str) -> dict:
        """Blind transfer: the agent leaves at once; the caller goes to the queue, the agent
        (offered at once, or waiting for them) or the number."""
        return self.request("transfer", interaction_id, agent_id, {"to": to, "target": target})

    def consult(self, interaction_id: int, agent_id: int, to: Literal["agent", "number"], target: str) -> dict:
        """Attended transfer, first step: the caller waits with music while the agent talks to
        the target; then complete_transfer or cancel_consult."""
        return self.request("consult", interaction_id, agent_id, {"to": to, "target": target})

    def complete_transfer(self, interaction_id: int, agent_id: int) -> dict:
        return self.request("complete_transfer", interaction_id, agent_id)

    def cancel_consult(self, interaction_id: int, agent_id: int) -> dict:
        return self.request("cancel_consult", interaction_id, agent_id)

    def conference(self, interaction_id: int, agent_id: int, to: Literal["agent", "number"], target: str) -> dict:
        """A third party joins the conversation; caller, agent and third party all hear each other."""
        return self.request("conference", interaction_id, agent_id, {"to": to, "target": target})

    def start_recording(self, interaction_id: int, agent_id: int) -> dict:
        return self.request("record_start", interaction_id, agent_id)

    def stop_recording(self, interaction_id: int, agent_id: int) -> dict:
        return self.request("record_stop", interaction_id, agent_id)

    def click_to_call(self, agent_id: int, number: str, queue: str | None = None) -> dict:
        """Ring the agent's phone, then the customer's number; an outbound voice interaction."""
        return self.request("click_to_call", None, agent_id, {"number": number, "queue": queue})

    # Supervisor controls ------------------------------------------------------------------

    def supervise(self, interaction_id: int, supervisor_id: int, mode: Literal["listen", "whisper", "barge"]) -> dict:
        """Listen to a live call, whisper to its agent, or barge in; asked again with another
        mode, the supervisor's line switches mode."""
        return self.request("supervise", interaction_id, supervisor_id, {"mode": mode})

    # The protocol -------------------------------------------------------------------------

    def request(self, action: str, interaction_id: int | None, agent_id: int | None,
                args: dict[str, Any] | None = None, timeout_s: float | None = None) -> dict:
        with self.store.connection() as conn:
            command_id = store_calls.ask(conn, action, interaction_id, agent_id, args or {}, self.clock.now())
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        while True:
            with self.store.connection() as conn:
                command = store_calls.get(conn, command_id)
                assert command is not None
                if command.state == "done":
                    return command.result or {}
                if command.state == "failed":
                    raise CallControlError(command.error or f"{action} failed")
                if time.monotonic() > deadline:
                    if store_calls.give_up(conn, command_id, self.clock.now(), "no node answered in time"):
                        raise CallControlError(f"{action}: no voice node holds this call (or none answered in time)")
                    # Taken meanwhile: it runs now, so its result is worth the wait.
                    deadline = time.monotonic() + (timeout_s or self.timeout_s)
            gevent.sleep(POLL_S)
