"""[softphone] in cic.toml: the agent's phone in the browser (SIP over WebSocket to FreeSWITCH)."""

from __future__ import annotations

from pydantic import Field, field_validator

from ..routing.settings import StrictModel


class SoftphoneSection(StrictModel):
    ws_url: str | None = Field(None, description="the switch's SIP-over-WebSocket address as browsers reach it, "
                               "e.g. wss://sip.example.com:7443 (unset: no softphone)")
    domain: str = Field("127.0.0.1", min_length=1, max_length=253,
                        description="the SIP domain (realm) of the browsers' users on the switch")
    credential_ttl_s: float = Field(900, ge=60, le=86400, description="a browser's SIP credential lasts this "
                                    "long; the page asks for a new one before it ends")
    directory_secret_env: str = Field("CIC_SWITCH_DIRECTORY_SECRET", description="environment variable with the "
                                      "password FreeSWITCH's mod_xml_curl sends (basic auth) when it asks for a user")

    @field_validator("ws_url")
    @classmethod
    def _websocket(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("ws://", "wss://")):
            raise ValueError("must start with ws:// (loopback tests) or wss:// (production)")
        return value
