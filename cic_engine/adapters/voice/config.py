"""The voice adapter's settings (one channels/*.toml file per FreeSWITCH node)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ...esl.dial import dial_template
from .ivr import IvrConfig


class Announcements(BaseModel):
    model_config = ConfigDict(extra="forbid")

    every_s: float = Field(30, ge=0.2, le=3600)
    position_prompt: str = "ivr/ivr-you_are_number.wav"
    wait_prompt: str = "ivr/ivr-estimated_wait_time_is.wav"
    minutes_prompt: str = "ivr/ivr-minutes.wav"
    language: str = Field("en", pattern=r"^[a-z]{2}$", description="the say module: en, zh, ...")


class Voicemail(BaseModel):
    model_config = ConfigDict(extra="forbid")

    queue: str = Field(description="queue the messages wait in for an agent; give it no open hours")
    greeting: str = "voicemail/vm-record_message.wav"
    directory: str = Field("/var/lib/freeswitch/recordings/cic", description="where the switch writes recordings")
    max_s: int = Field(120, ge=5, le=3600)
    silence_s: int = Field(5, ge=1, le=60, description="silence that ends the message")
    attach: bool = Field(True, description="read the recording (same host or shared storage) into the message")


class Callbacks(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field("1", pattern=r"^[0-9*#]$", description="the key a waiting caller presses to be called back")
    prompt: str = Field("ivr/ivr-to_be_called_back_press_1.wav", description="played with every announcement")
    confirm: str = Field("ivr/ivr-we_will_call_you_back.wav", description="played before the caller hangs up")
    caller_id: str = Field("0000000000", max_length=40, description="the number the customer sees when called back")


class VoiceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outbound_bind: str = Field("127.0.0.1:8084", description="where the dialplan's `socket` application connects")
    esl_host: str = "127.0.0.1"
    esl_port: int = Field(8021, ge=1, le=65535)
    esl_password: str = Field("ClueCon", min_length=1)
    queue: str | None = Field(None, description="queue for calls; default: engine.default_queue")
    moh: str = Field("local_stream://moh", description="what callers hear while they wait")
    moh_piece_s: int = Field(60, ge=2, le=3600, description="music on hold is played in pieces this long (no "
                             "playback on a call lasts longer), so a call whose engine went away parks within "
                             "this time for another node to take it")
    agent_endpoint: str = Field("user/{login}", description="dial string of an agent's phone; {login} is replaced")
    require_registered_phone: bool = Field(
        False, description="agents' phones register with this switch (desk SIP phones, the inbox's softphone): an "
        "agent with none registered is not offered calls. Leave off for endpoints that never register "
        "(gateways, loopback)")
    registrations_check_s: float = Field(15, ge=1, le=600, description="how often the switch's registrations are "
                                         "read besides when sofia reports one")
    ring_s: int = Field(20, ge=5, le=120, description="how long an agent's phone rings before the offer is given back")
    command_timeout_s: float = Field(10, gt=0, le=120)
    # Calls report their own events on their outbound sockets; the event socket only needs what
    # concerns the switch as a whole (and every extra event is parsed on both sides).
    esl_events: list[str] = Field(
        default_factory=lambda: ["BACKGROUND_JOB", "CHANNEL_PARK", "CHANNEL_HANGUP_COMPLETE", "HEARTBEAT"])
    ivr: IvrConfig | None = Field(None, description="menus callers go through before they wait; none: straight to queue")
    announce: Announcements | None = Field(None, description="position / expected-wait announcements while waiting")
    voicemail: Voicemail | None = Field(None, description="where callers leave a message when a queue says voicemail")
    callback: Callbacks | None = Field(None, description="waiting callers may ask to be called back, keeping "
                                       "their place; also what a queue's callback action dials")
    number_endpoint: str = Field("sofia/gateway/pstn/{number}", description="dial string of an outside number "
                                 "(E.164); {number} is replaced")
    recordings: str = Field("/var/lib/freeswitch/recordings/cic", description="where the switch writes call "
                            "recordings (queues' `recording` policy)")
    closed_prompt: str = Field("ivr/ivr-not_available.wav", description="played before hanging up when voicemail "
                               "is asked for but not configured")

    @field_validator("outbound_bind")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
            raise ValueError("must be host:port, e.g. 127.0.0.1:8084")
        return value

    @field_validator("agent_endpoint")
    @classmethod
    def _has_login(cls, value: str) -> str:
        return dial_template(value, "login", "user/{login}")

    @field_validator("number_endpoint")
    @classmethod
    def _has_number(cls, value: str) -> str:
        return dial_template(value, "number", "sofia/gateway/pstn/{number}")

    @property
    def bind(self) -> tuple[str, int]:
        host, _, port = self.outbound_bind.rpartition(":")
        return host, int(port)
