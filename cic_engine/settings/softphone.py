"""[softphone] in cic.toml: the agent's phone in the browser (SIP over WebSocket to FreeSWITCH)."""

from __future__ import annotations

from pydantic import Field, field_validator

from .routing import StrictModel


def websocket_url(value: str) -> str:
    """A switch's WebSocket as browsers reach it (the softphone's, the visitors' calls')."""
    if not value.startswith(("ws://", "wss://")):
        raise ValueError("must start with ws:// (loopback tests) or wss:// (production)")
    return value


def ice_urls(value: list[str], schemes: tuple[str, ...]) -> list[str]:
    """STUN or TURN servers for browsers, each of one of the schemes."""
    for url in value:
        if not url.startswith(schemes):
            raise ValueError(f"{url!r} must start with {' or '.join(schemes)}")
    return value


class SoftphoneSection(StrictModel):
    ws_url: str | None = Field(None, description="the switch's SIP-over-WebSocket address as browsers reach it, "
                               "e.g. wss://sip.example.com:7443 (unset: no softphone)")
    domain: str = Field("127.0.0.1", min_length=1, max_length=253,
                        description="the SIP domain (realm) of the browsers' users on the switch")
    credential_ttl_s: float = Field(900, ge=60, le=86400, description="a browser's SIP credential lasts this "
                                    "long; the page asks for a new one before it ends")
    directory_secret_env: str = Field("CIC_SWITCH_DIRECTORY_SECRET", description="environment variable with the "
                                      "password FreeSWITCH's mod_xml_curl sends (basic auth) when it asks for a user")

    codecs: str = Field("OPUS,PCMU,PCMA,VP8", pattern=r"^[A-Za-z0-9@.]+(,[A-Za-z0-9@.]+)*$",
                        description="what the switch offers a browser when it rings it (it transcodes the "
                        "caller's audio codec); browsers speak OPUS, PCMU and PCMA, not L16 or G.729, and VP8 "
                        "video (passed through from a visitor's video call)")
    media_timeout_s: int = Field(10, ge=3, le=300, description="a browser that sends no audio this long is gone "
                                 "(a closed lid, a dead tab, a lost network): the switch ends its leg and the "
                                 "caller waits for another agent")
    stun_urls: list[str] = Field(default_factory=list, description="STUN servers the browsers use for ICE, e.g. "
                                 "stun:turn.example.com:3478")
    turn_urls: list[str] = Field(default_factory=list, description="TURN relays for agents behind strict NAT "
                                 "(coturn with use-auth-secret), e.g. turns:turn.example.com:5349")
    turn_secret_env: str = Field("CIC_TURN_SECRET", description="environment variable with coturn's static-auth-"
                                 "secret: each credential the engine gives a browser is good for credential_ttl_s")

    @field_validator("stun_urls", "turn_urls")
    @classmethod
    def _ice_urls(cls, value: list[str], info) -> list[str]:
        return ice_urls(value, ("stun:", "stuns:") if info.field_name == "stun_urls" else ("turn:", "turns:"))

    @field_validator("ws_url")
    @classmethod
    def _websocket(cls, value: str | None) -> str | None:
        return value if value is None else websocket_url(value)
