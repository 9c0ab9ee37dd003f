"""[integrations] in cic.toml: the company's CRM shown in the agent's screen pop.

    [[integrations.crm]]
    name = "crm"
    url = "https://crm.example.com/api/lookup?phone={phone}&email={email}"
    queues = ["support"]             # empty: every queue
    fields = [{ label = "Orders", path = "orders.0.status" }]
    link = "https://crm.example.com/customer?phone={phone}"   # a link, or a frame when frame = true
"""

from __future__ import annotations

import string
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from ..models import Channel
from .routing import StrictModel

PLACEHOLDERS = ("phone", "email", "customer_id", "interaction_id", "channel", "queue")


def _template(value: str) -> str:
    """An http(s) address whose {placeholders} are ours, none in its scheme or host."""
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(value) if name is not None]
    except ValueError as exc:
        raise ValueError(f"not a template: {exc}") from None
    unknown = [n for n in names if n not in PLACEHOLDERS]
    if unknown:
        raise ValueError(f"unknown placeholder {{{unknown[0]}}}; known are {', '.join('{' + p + '}' for p in PLACEHOLDERS)}")
    split = urlsplit(value)
    if split.scheme not in ("http", "https") or not split.hostname or "{" in split.netloc:
        raise ValueError("must be an http:// or https:// address with a fixed host (placeholders only in its "
                         "path and query)")
    return value


def origin(url: str) -> str:
    split = urlsplit(url)
    return f"{split.scheme}://{split.netloc}"


class CrmField(StrictModel):
    label: str = Field(min_length=1, max_length=100, description="what the agent reads, e.g. 订单 or Orders")
    path: str = Field(min_length=1, max_length=200, pattern=r"^[^.\s]+(\.[^.\s]+)*$",
                      description="where in the CRM's JSON answer: keys and list positions, e.g. orders.0.status")


class CrmLookup(StrictModel):
    name: str = Field(min_length=1, max_length=100, description="shown above its fields")
    url: str | None = Field(None, max_length=2000, description="GET when an interaction is offered; its JSON "
                            "answer fills `fields`. Placeholders: " + ", ".join("{" + p + "}" for p in PLACEHOLDERS))
    fields: list[CrmField] = Field(default_factory=list, max_length=30)
    link: str | None = Field(None, max_length=2000, description="the CRM's own page for the customer (same "
                             "placeholders), shown as a link, or in the screen pop when `frame` is true")
    frame: bool = Field(False, description="show `link` inside the screen pop; its origin is allowed to be framed")
    queues: list[str] = Field(default_factory=list, description="only for these queues (empty: every queue)")
    channels: list[Channel] = Field(default_factory=list, description="only for these channels (empty: all)")
    timeout_s: float = Field(2.0, gt=0, le=10, description="past this the screen pop says the CRM is unavailable; "
                             "the offer itself never waits for the CRM")
    token_env: str | None = Field(None, description="environment variable holding a bearer token for the CRM")

    _url = field_validator("url", "link")(lambda value: value if value is None else _template(value))

    @model_validator(mode="after")
    def _something_to_show(self) -> CrmLookup:
        if self.url is None and self.link is None:
            raise ValueError("give url (fields from the CRM's answer) or link (its page), or both")
        if self.fields and self.url is None:
            raise ValueError("fields are read from the answer of url, which is not set")
        if self.frame and self.link is None:
            raise ValueError("frame shows link, which is not set")
        return self

    def applies(self, channel: str, queue: str | None) -> bool:
        return (not self.channels or channel in self.channels) and (not self.queues or queue in self.queues)


class IntegrationsSection(StrictModel):
    crm: list[CrmLookup] = Field(default_factory=list, max_length=10)

    def frame_origins(self) -> list[str]:
        return sorted({origin(c.link) for c in self.crm if c.frame and c.link})
