"""An SMS provider's HTTP API: a signed inbound webhook and a templated send request.

The webhook is signed HMAC-SHA256 over "<timestamp>.<body>" with a shared secret, hex in a
header, the timestamp (Unix seconds) in another. A request outside the allowed clock skew is
refused as stale, so a captured webhook cannot be replayed later; within the window, a
replay carries the same message id, which ingest de-duplicates.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from dataclasses import dataclass


class WebhookRefused(ValueError):
    """The webhook is not taken; the message says why (it goes back to the provider)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(secret: str, timestamp: str | None, signature: str | None, body: bytes, now: float, max_skew_s: float) -> None:
    if not secret:
        raise WebhookRefused(401, "no signing secret is set up; unsigned webhooks are refused")
    if not timestamp or not signature:
        raise WebhookRefused(401, "missing signature or timestamp header")
    if not timestamp.isascii() or not signature.isascii():
        raise WebhookRefused(401, "the signature and timestamp must be ASCII")
    try:
        at = float(timestamp)
    except ValueError:
        raise WebhookRefused(401, "the timestamp is not a number") from None
    if not math.isfinite(at) or abs(now - at) > max_skew_s:
        raise WebhookRefused(401, f"stale or future timestamp (more than {max_skew_s:g} s off); refused as a replay")
    if not hmac.compare_digest(sign(secret, timestamp, body), signature.strip().lower()):
        raise WebhookRefused(401, "bad signature")


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
