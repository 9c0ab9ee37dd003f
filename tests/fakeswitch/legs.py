"""Channels of the simulated switch that no socket controls: the agent's leg a bridge dials,
and the legs `originate` makes (parked, eavesdropping, three-way). Their events go to the
inbound subscribers only, as a real switch sends them.

Two channels are joined (`link`) by a bridge or by `uuid_bridge`; when one leaves, the other
is told (`unlinked`): a socket call's bridge application then completes, a leg with
park_after_bridge=true parks, any other leg hangs up, as FreeSWITCH does.
"""

from __future__ import annotations

import io
import wave
from pathlib import Path

from gevent.event import Event

# The keys FreeSWITCH's eavesdrop reads from the listener, and the mode each one selects.
EAVESDROP_KEYS = {"0": "listen", "1": "whisper-other", "2": "whisper", "3": "barge"}


def parse_dial(text: str) -> tuple[dict[str, str], str, str]:
    """`{a=b,c=d}endpoint rest` -> (variables, endpoint, rest)."""
    variables: dict[str, str] = {}
    text = text.strip()
    if text.startswith("{"):
        inner, _, text = text[1:].partition("}")
        for pair in inner.split(","):
            if "=" in pair:
                name, _, value = pair.partition("=")
                variables[name.strip()] = value.strip().strip("'")  # {fax_header='With spaces'}
    endpoint, _, rest = text.partition(" ")
    return variables, endpoint, rest.strip()


def wav_bytes(seconds: float) -> bytes:
    """Silence as 8 kHz mono 16-bit WAV, the format FreeSWITCH's record writes."""
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\x00\x00" * int(8000 * seconds))
    return out.getvalue()


def write_recording(path: str, seconds: float) -> bool:
    try:
        Path(path).write_bytes(wav_bytes(seconds))
    except OSError:
        return False  # no such directory on this host: like a switch that cannot write there
    return True


class SimLeg:
    def __init__(self, switch, uuid: str, endpoint: str, variables: dict[str, str]):
        self.switch = switch
        self.uuid = uuid
        self.endpoint = endpoint
        self.name = endpoint.rsplit("/", 1)[-1]
        self.variables = dict(variables)
        self.partner = None
        self.application = "park"
        self.playing: str | None = None  # what a broadcast plays to this leg now (uuid_broadcast)
        self.target: str | None = None  # eavesdrop / three_way: the channel listened to
        self.mode: str | None = None  # eavesdrop: listen, whisper, barge
        self.held = False
        self.ended = Event()
        self.hangup_cause: str | None = None

    def __repr__(self) -> str:
        return f"<SimLeg {self.name} {self.application} {self.uuid[:8]}>"

    def emit(self, name: str, extra: dict[str, str] | None = None) -> None:
        self.switch.emit(name, [("Unique-ID", self.uuid), ("Channel-Name", self.endpoint),
                                ("Call-Direction", "outbound"), *(extra or {}).items()])

    def linked(self, other) -> None:
        self.application = "bridge"

    def unlinked(self, other) -> None:
        if self.ended.is_set():
            return
        if self.variables.get("park_after_bridge") == "true":
            self.application = "park"
            self.emit("CHANNEL_PARK")
        else:
            self.hang_up()

    def hang_up(self, cause: str = "NORMAL_CLEARING") -> None:
        if self.ended.is_set():
            return
        self.hangup_cause = cause
        self.ended.set()
        self.switch.unlink(self)
        self.switch.stop_recording(self.uuid)
        self.switch.channels.pop(self.uuid, None)
        self.emit("CHANNEL_HANGUP_COMPLETE", {"Hangup-Cause": cause})

    def press(self, digit: str) -> None:
        """A key from this leg's phone: an eavesdropping supervisor changes mode."""
        if self.application == "eavesdrop" and digit in EAVESDROP_KEYS:
            self.mode = EAVESDROP_KEYS[digit]
