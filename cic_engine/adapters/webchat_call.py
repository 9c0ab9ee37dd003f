"""'Call us' in the chat widget: a visitor in a chat asks to talk, and gets a ticket for one
WebRTC call into the switch's visitor profile (freeswitch/sip_profiles/cic_webcall.xml). The
switch asks nobody for credentials there: the visitor dials cic-<token>, the dialplan hands the
call to the engine, and the voice adapter takes the ticket once (store/web_calls.py) and queues
the call as the chat's customer. A token is good for one call, for ticket_valid_s."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..settings.softphone import ice_urls, websocket_url
from ..store import web_calls as store_web_calls
from ..web.limits import RateLimit

if TYPE_CHECKING:
    from ..store.chat import ChatSession
    from . import AdapterContext


class CallingChat(Protocol):
    """The visitor's chat a call is asked from (webchat.CustomerChat)."""

    address: str
    session: ChatSession | None

    def send(self, **message) -> None: ...


class ChatChannel(Protocol):
    """What the calls need of the web chat adapter they belong to (webchat.WebChatAdapter)."""

    name: str
    context: AdapterContext
    refused: int

    def chat_queue(self) -> str: ...

    def is_open(self, name: str | None = None) -> bool: ...

    def limited(self, limit: RateLimit, key: str) -> float | None: ...


class WebCallConfig(BaseModel):
    """[call] in a web chat channel's file."""

    model_config = ConfigDict(extra="forbid")

    ws_url: str = Field(description="the switch's visitor profile as browsers reach it, e.g. wss://call.example.com:7443")
    domain: str = Field("127.0.0.1", min_length=1, max_length=253, description="SIP domain of the visitor profile")
    queue: str | None = Field(None, description="queue the calls wait in (its opening hours show or hide the "
                              "button); default: the chat's queue")
    ticket_valid_s: int = Field(60, ge=10, le=600, description="a ticket not dialled within this is void")
    calls_per_chat: int = Field(3, ge=1, le=100, description="calls one chat may place")
    calls_per_hour: int = Field(10, ge=1, le=100_000, description="calls from one address per hour")
    video: bool = Field(False, description="visitors may also place a video call (VP8, passed through the switch); "
                        "the agent sees it, and sends their own picture, when their inbox allows video")
    stun_urls: list[str] = Field(default_factory=list, description="STUN servers for the visitor's browser")

    @field_validator("ws_url")
    @classmethod
    def _websocket(cls, value: str) -> str:
        return websocket_url(value)

    @field_validator("stun_urls")
    @classmethod
    def _stun(cls, value: list[str]) -> list[str]:
        return ice_urls(value, ("stun:", "stuns:"))


class WebCalls:
    """The web chat channel's call button: whether it shows, and tickets."""

    def __init__(self, adapter: ChatChannel, config: WebCallConfig):
        self.adapter = adapter
        self.config = config
        self.per_address = RateLimit(config.calls_per_hour, config.calls_per_hour / 3600)

    def queue(self) -> str:
        return self.config.queue or self.adapter.chat_queue()

    def is_open(self) -> bool:
        return self.adapter.is_open(self.queue())

    def request(self, chat: CallingChat, video: bool = False) -> None:
        """The visitor pressed the call button: a ticket, or why not (with a code the widget words)."""
        assert chat.session is not None
        if chat.session.ended:
            chat.send(type="error", code="chat-ended", error="this chat has ended; start a new one to call")
            return
        if not self.is_open():
            chat.send(type="error", code="call-closed", error="we take calls only during opening hours")
            return
        engine = self.adapter.context.engine
        with engine.store.transaction() as conn:
            placed = store_web_calls.issued(conn, chat.session.key)
        if placed >= self.config.calls_per_chat:
            self.adapter.refused += 1
            chat.send(type="error", code="call-limit", error="this chat has placed all the calls it may")
            return
        wait = self.adapter.limited(self.per_address, chat.address)
        if wait is not None:
            chat.send(type="error", code="rate-limited", error=f"too many calls from your network; try again in "
                      f"{int(wait) + 1} s")
            return
        token, now = secrets.token_urlsafe(24), engine.clock.now()
        with engine.store.transaction() as conn:
            store_web_calls.issue(conn, token, chat.session.key, self.adapter.name, self.queue(), chat.address, now,
                                  now + timedelta(seconds=self.config.ticket_valid_s))
        chat.send(type="call", ws_url=self.config.ws_url, uri=f"sip:cic-{token}@{self.config.domain}",
                  domain=self.config.domain, video=self.config.video and bool(video),
                  ice_servers=[{"urls": self.config.stun_urls}] if self.config.stun_urls else [])
