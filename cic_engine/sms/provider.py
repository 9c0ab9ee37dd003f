"""An SMS provider's HTTP API: a signed inbound webhook and a templated send request.

The webhook is signed HMAC-SHA256 over "<timestamp>.<body>" with a shared secret, hex in a
header, the timestamp (Unix seconds) in another. A request outside the allowed clock skew is
refused as stale, so a captured webhook cannot be replayed later; within the window, a
replay carries the same message id, which ingest de-duplicates.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..signing import WebhookRefused, sign, verify

__all__ = ["WebhookRefused", "sign", "verify", "InboundSms", "parse_inbound"]


@dataclass(frozen=True)
class InboundSms:
    message_id: str
    sender: str
    recipient: str
    text: str


def parse_inbound(body: bytes, fields: dict[str, str]) -> InboundSms:
    """The webhook's JSON object; `fields` maps id/from/to/text to the provider's names."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise WebhookRefused(400, f"body is not JSON: {exc}") from None
    except RecursionError:
        raise WebhookRefused(400, "body is not JSON: nested too deeply") from None
    if not isinstance(data, dict):
        raise WebhookRefused(400, "body must be a JSON object")
    values = {}
    for ours, theirs in fields.items():
        value = data.get(theirs)
        if not isinstance(value, str | int) or str(value) == "":
            raise WebhookRefused(400, f"field {theirs!r} is missing or empty")
        values[ours] = str(value)
    return InboundSms(message_id=values["id"][:200], sender=values["from"][:64], recipient=values["to"][:64],
                      text=values["text"])


def render(template: str, values: dict[str, str]) -> str:
    """The send request's body from its template; each value goes in JSON-escaped (without its
    quotes), so a customer's text cannot break out of the string it is put into."""
    out = template
    for key, value in values.items():
        out = out.replace("{" + key + "}", json.dumps(value, ensure_ascii=False)[1:-1])
    return out
