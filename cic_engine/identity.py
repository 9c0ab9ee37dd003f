"""Normalising customer addresses so one person is one identity, whatever the channel wrote."""

from __future__ import annotations

import re

import phonenumbers

from .models import IdentityKind

MAX_CHAT_ID = 200
_EMAIL = re.compile(r"^[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+\.[^@\s<>()\[\],;:\".]+$")
_CHAT_ID = re.compile(r"^[A-Za-z0-9._:\-]+$")


class InvalidIdentity(ValueError):
    """An address that cannot identify a customer; the message says why, for the adapter's log."""


def normalise_phone(raw: str, region: str | None) -> str:
    """E.164 for a number written any way a switch, a carrier or a person writes it.

    `region` decides what a number without a country code means (CN: 13800138000 is a mobile,
    010 6552 9988 is Beijing). Numbers that no numbering plan allows are refused, not guessed.
    """
    text = raw.strip()
    if not text:
        raise InvalidIdentity("phone number is empty")
    try:
        number = phonenumbers.parse(text, (region or "").upper() or None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidIdentity(f"not a phone number: {raw!r} ({exc})") from None
    if not phonenumbers.is_valid_number(number):
        where = f" in region {region}" if region else ""
        raise InvalidIdentity(f"not a valid phone number{where}: {raw!r}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(raw: str) -> str:
    """Lower-cased bare address; a display name or angle brackets around it are dropped."""
    text = raw.strip()
    if "<" in text and text.endswith(">"):
        text = text[text.rindex("<") + 1 : -1].strip()
    address = text.lower()
    if len(address) > 254 or not _EMAIL.match(address):
        raise InvalidIdentity(f"not an email address: {raw!r}")
    return address


def normalise_chat_id(raw: str) -> str:
    text = raw.strip()
    if not text or len(text) > MAX_CHAT_ID or not _CHAT_ID.match(text):
        raise InvalidIdentity(
            f"not a chat visitor id (1-{MAX_CHAT_ID} of letters, digits, . _ : -): {raw[:80]!r}"
        )
    return text


def normalise(kind: IdentityKind, raw: str, region: str | None = None) -> str:
    if kind is IdentityKind.phone:
        return normalise_phone(raw, region)
    if kind is IdentityKind.email:
        return normalise_email(raw)
    return normalise_chat_id(raw)


def chat_sender(key: str, email: str | None, email_verified: bool) -> tuple[str, IdentityKind]:
    """Who a chat's contacts (its messages, its web calls) come from: the email once it is
    proved, else the chat itself (a typed address is only a claim)."""
    if email is not None and email_verified:
        return email, IdentityKind.email
    return key, IdentityKind.chat
