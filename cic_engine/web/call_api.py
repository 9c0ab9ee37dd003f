"""Voice controls from the inbox: the agent's own call (hold, transfers, conference, recording,
hang up), click-to-call, and a supervisor listening, whispering or barging in. Each becomes a
call command that the node holding the call runs (callcontrol.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from werkzeug.wrappers import Request

from ..callcontrol import CallControl, CallControlError
from ..store import Store
from .access import AGENTS, SUPERVISORS, current
from .app import HttpError, WebApp, read_json
from .inbox_api import require_visible

# action: the arguments it takes ("to" and "target" for the ones that name a destination)
AGENT_ACTIONS: dict[str, tuple[str, ...]] = {
    "hold": (), "unhold": (), "hangup": (), "complete_transfer": (), "cancel_consult": (),
    "record_start": (), "record_stop": (),
    "transfer": ("to", "target"), "consult": ("to", "target"), "conference": ("to", "target"),
}
TARGETS = {"transfer": ("queue", "agent", "number"), "consult": ("agent", "number"), "conference": ("agent", "number")}


class CallApi:
    def __init__(self, store: Store, control: CallControl, has_voice: Callable[[], bool] = lambda: True):
        self.store = store
        self.control = control
        self.has_voice = has_voice

    def mount(self, app: WebApp) -> None:
        app.route("/api/interactions/<int:interaction_id>/call/<action>", self.call_action, ("POST",), allow=AGENTS)
        app.route("/api/interactions/<int:interaction_id>/supervise", self.supervise, ("POST",), allow=SUPERVISORS)
        app.route("/api/calls", self.click_to_call, ("POST",), allow=AGENTS)

    def call_action(self, request: Request, interaction_id: int, action: str) -> tuple[int, Any]:
        principal = current(request)
        if action not in AGENT_ACTIONS:
            raise HttpError(404, f"no call control {action!r} (controls: {', '.join(sorted(AGENT_ACTIONS))})")
        require_visible(self.store, principal, interaction_id)
        body = read_json(request) if AGENT_ACTIONS[action] else {}
        args: dict[str, str] = {}
        for name in AGENT_ACTIONS[action]:
            value = body.get(name)
            if not isinstance(value, str) or not value.strip():
                raise HttpError(400, f"{action} needs {name}")
            args[name] = value.strip()
        if "to" in args and args["to"] not in TARGETS[action]:
            raise HttpError(400, f"{action} goes to {' or '.join(TARGETS[action])}, not {args['to']!r}")
        return self._run(lambda: self.control.request(action, interaction_id, principal.agent_id, args))

    def supervise(self, request: Request, interaction_id: int) -> tuple[int, Any]:
        principal = current(request)
        require_visible(self.store, principal, interaction_id)
        mode = read_json(request).get("mode")
        if mode not in ("listen", "whisper", "barge"):
            raise HttpError(400, "mode must be listen, whisper or barge")
        return self._run(lambda: self.control.supervise(interaction_id, principal.agent_id, mode))

    def click_to_call(self, request: Request) -> tuple[int, Any]:
        principal = current(request)
        body = read_json(request)
        number, queue = body.get("number"), body.get("queue")
        if not isinstance(number, str) or not number.strip():
            raise HttpError(400, "number is required")
        if queue is not None and not isinstance(queue, str):
            raise HttpError(400, "queue must be a queue name")
        if not self.has_voice():  # said at once, not after the call control's 30 s wait
            raise HttpError(409, 'no voice channel is set up: calls need a channels/*.toml with kind = "voice"')
        return self._run(lambda: self.control.click_to_call(principal.agent_id, number, queue))

    @staticmethod
    def _run(control) -> tuple[int, Any]:
        try:
            return 200, control()
        except CallControlError as exc:
            raise HttpError(409, str(exc)) from None
