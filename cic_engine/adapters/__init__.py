"""The adapter seam: what every channel adapter implements, and what the node gives it.

Installed kinds are found through the `cic_engine.adapters` entry-point group (discovery.py),
so a third party ships a new channel as its own package.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel

from ..models import AdapterHealth, DeliveryResult, OutboundMessage

if TYPE_CHECKING:
    from ..csat.surveys import Surveys
    from ..engine import Engine
    from ..replies import Replies
    from ..routing.events import EventListener
    from ..routing.service import Routing
    from ..web.app import WebApp


@dataclass(frozen=True)
class AdapterContext:
    """What the node gives every adapter: ingest and profiles, the routing API, live events,
    and the web server for adapters that take HTTP or WebSockets (web chat, webhooks)."""

    node: str
    engine: Engine
    routing: Routing
    events: EventListener
    web: WebApp | None = None
    replies: Replies | None = None  # answers on any channel, for adapters that send on another one
    surveys: Surveys | None = None  # satisfaction surveys, for a channel that asks in its own way (voice)


@runtime_checkable
class ChannelAdapter(Protocol):
    kind: ClassVar[str]
    Config: ClassVar[type[BaseModel]]

    def __init__(self, name: str, config: BaseModel, context: AdapterContext) -> None: ...

    def start(self) -> None:
        """Spawn the adapter's greenlets and return at once."""

    def stop(self, timeout: float) -> None:
        """Drain in-flight work, checkpoint, close connections."""

    def deliver(self, outbound: OutboundMessage) -> DeliveryResult: ...

    def health(self) -> AdapterHealth: ...


@runtime_checkable
class Reingests(Protocol):
    """An adapter that records what it cannot take in (poison.py) and can try it again."""

    def reingest(self, raw: bytes | None, source: dict[str, str]) -> int | None:
        """Take the recorded contact in again; the interaction it joined (None: nothing to
        queue, as for a delivery report). Raises, with the reason, when it still cannot."""
