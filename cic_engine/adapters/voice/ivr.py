"""IVR menus from config: prompts, one key per choice, timeouts and retries on invalid input,
sub-menus (a language choice, say), a self-service branch that ends the call, and the queue
(with skills, priority and language) a choice routes to."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

KEY = re.compile(r"^[0-9*#]$")
DIGIT_VARIABLE = "cic_ivr_digit"
MAX_STEPS = 20  # menus that point at each other still end


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IvrChoice(_Strict):
    """Exactly one of: a queue to wait in, another menu, or a recording after which the call ends."""

    queue: str | None = None
    skills: dict[str, Annotated[int, Field(ge=1, le=10)]] = Field(default_factory=dict)
    priority: int = Field(0, ge=-100, le=100)
    language: str | None = Field(None, max_length=20)
    menu: str | None = None
    play: str | None = Field(None, description="self-service: play this, then hang up")

    @model_validator(mode="after")
    def _one_target(self) -> IvrChoice:
        targets = [t for t in (self.queue, self.menu, self.play) if t]
        if len(targets) != 1:
            raise ValueError("set exactly one of queue, menu or play")
        return self


class IvrMenu(_Strict):
    prompt: str = Field(min_length=1)
    invalid: str = Field("ivr/ivr-that_was_an_invalid_entry.wav", description="played after a key with no choice")
    timeout_ms: int = Field(5000, ge=1000, le=60000)
    retries: int = Field(3, ge=1, le=10)
    choices: dict[str, IvrChoice]
    otherwise: IvrChoice | None = Field(None, description="after the retries; default: the adapter's queue")

    @model_validator(mode="after")
    def _keys(self) -> IvrMenu:
        bad = [k for k in self.choices if not KEY.match(k)]
        if bad:
            raise ValueError(f"choice keys must be one of 0-9, * or #: {bad}")
        return self


class IvrConfig(_Strict):
    start: str = "main"
    menus: dict[str, IvrMenu]

    @model_validator(mode="after")
    def _menus_exist(self) -> IvrConfig:
        if self.start not in self.menus:
            raise ValueError(f"start menu {self.start!r} is not defined")
        for name, menu in self.menus.items():
            for choice in [*menu.choices.values(), *([menu.otherwise] if menu.otherwise else [])]:
                if choice.menu and choice.menu not in self.menus:
                    raise ValueError(f"menu {name!r} goes to undefined menu {choice.menu!r}")
        return self

    def queues(self) -> set[str]:
        return {c.queue for m in self.menus.values() for c in [*m.choices.values(), m.otherwise] if c and c.queue}


class Caller(Protocol):
    """What the IVR needs of a call (esl.outbound.OutboundCall)."""

    def run(self, app: str, arg: str = "", timeout: float | None = None): ...


@dataclass
class IvrOutcome:
    choice: IvrChoice | None  # None: the retries ran out with no `otherwise`
    path: list[str] = field(default_factory=list)  # e.g. ["main:7 invalid", "main:9", "language:1"]


def run_ivr(call: Caller, ivr: IvrConfig) -> IvrOutcome:
    name, path = ivr.start, []
    for _ in range(MAX_STEPS):
        menu = ivr.menus[name]
        choice = _ask(call, name, menu, path)
        if choice is None or not choice.menu:
            if choice is not None and choice.play:
                call.run("playback", choice.play)
            return IvrOutcome(choice, path)
        name = choice.menu
    path.append("too many menus")
    return IvrOutcome(None, path)


def _ask(call: Caller, name: str, menu: IvrMenu, path: list[str]) -> IvrChoice | None:
    for _ in range(menu.retries):
        # One key, one try: what a wrong key means is ours to decide, and to record.
        done = call.run("play_and_get_digits",
                        f"1 1 1 {menu.timeout_ms} # {menu.prompt} silence_stream://250 {DIGIT_VARIABLE} [0-9*#]")
        key = done.get(f"variable_{DIGIT_VARIABLE}") or ""
        if key in menu.choices:
            path.append(f"{name}:{key}")
            return menu.choices[key]
        path.append(f"{name}:{key} invalid" if key else f"{name}:no input")
        if key:
            call.run("playback", menu.invalid)
    path.append(f"{name}:retries exhausted")
    return menu.otherwise
