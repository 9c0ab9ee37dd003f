"""Signed webhooks, both ways: HMAC-SHA256 over "<timestamp>.<body>" with a shared secret, hex
in one header and the timestamp (Unix seconds) in another. The SMS provider's webhook into the
engine is checked with it, and the engine's own webhooks to the company's systems are signed
with it, so a receiver checks ours the way we check theirs."""

from __future__ import annotations

import hashlib
import hmac
import math


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
