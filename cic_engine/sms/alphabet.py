"""GSM 03.38 (the default alphabet and its extension table) and UCS-2, as SMPP carries them:
one octet a GSM character (unpacked septets; an extension character is ESC + code), two or
four octets (a surrogate pair) a UCS-2 one. Text is split into characters here, so that no
part of a long message ever ends inside one."""

from __future__ import annotations

from dataclasses import dataclass

GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = {"\f": 0x0A, "^": 0x14, "{": 0x28, "}": 0x29, "\\": 0x2F, "[": 0x3C, "~": 0x3D, "]": 0x3E,
                 "|": 0x40, "€": 0x65}
ESC = 0x1B
_BASIC_CODE = {ch: i for i, ch in enumerate(GSM_BASIC) if i != ESC}
_BASIC_CHAR = {i: ch for i, ch in enumerate(GSM_BASIC) if i != ESC}
_EXTENSION_CHAR = {code: ch for ch, code in GSM_EXTENSION.items()}

# SMPP data_coding values
DC_GSM = 0x00
DC_IA5 = 0x01
DC_LATIN1 = 0x03
DC_UCS2 = 0x08


@dataclass(frozen=True)
class Encoded:
    data_coding: int
    units: list[bytes]  # one entry a character: the octets that must stay together

    @property
    def size(self) -> int:
        return sum(len(u) for u in self.units)


def gsm_units(text: str) -> list[bytes] | None:
    """The text in the GSM default alphabet, a character at a time; None if it does not fit."""
    units = []
    for ch in text:
        code = _BASIC_CODE.get(ch)
        if code is not None:
            units.append(bytes((code,)))
        elif ch in GSM_EXTENSION:
            units.append(bytes((ESC, GSM_EXTENSION[ch])))
        else:
            return None
    return units


def ucs2_units(text: str) -> list[bytes]:
    """UTF-16BE a character at a time: a character beyond the BMP (an emoji) is its surrogate
    pair, four octets that must not be split."""
    return [ch.encode("utf-16-be") for ch in text]


def encode(text: str) -> Encoded:
    """GSM when every character has a GSM code (160 a message), UCS-2 otherwise (70): Chinese
    text is UCS-2."""
    units = gsm_units(text)
    if units is not None:
        return Encoded(DC_GSM, units)
    return Encoded(DC_UCS2, ucs2_units(text))


def decode(data_coding: int, payload: bytes) -> tuple[str, str | None]:
    """(text, problem) of a message body as the SMSC sent it; undecodable octets are replaced
    and the problem says so, never an exception."""
    if data_coding == DC_UCS2:
        if len(payload) % 2 == 1:
            return payload.decode("utf-16-be", errors="replace"), "UCS-2 body with an odd number of octets"
        try:
            return payload.decode("utf-16-be"), None
        except UnicodeDecodeError:  # a lone surrogate; a U+FFFD the sender wrote is text, not a problem
            return payload.decode("utf-16-be", errors="replace"), "UCS-2 body with invalid code units"
    if data_coding == DC_LATIN1:
        return payload.decode("latin-1"), None
    if data_coding == DC_IA5:
        text = payload.decode("ascii", errors="replace")
        return text, "non-ASCII octets in an IA5 body" if "\ufffd" in text else None
    if data_coding == DC_GSM:
        return _gsm_decode(payload)
    text = payload.decode("latin-1")
    return text, f"data_coding {data_coding:#04x} is not one the engine reads; taken as Latin-1"


def _gsm_decode(payload: bytes) -> tuple[str, str | None]:
    out: list[str] = []
    problem = None
    i = 0
    while i < len(payload):
        code = payload[i]
        if code == ESC and i + 1 < len(payload):
            ch = _EXTENSION_CHAR.get(payload[i + 1])
            if ch is None:
                problem = f"unknown GSM extension code {payload[i + 1]:#04x}"
                ch = "\ufffd"
            out.append(ch)
            i += 2
            continue
        ch = _BASIC_CHAR.get(code)
        if ch is None:
            problem = f"octet {code:#04x} is not in the GSM alphabet"
            ch = "\ufffd"
        out.append(ch)
        i += 1
    return "".join(out), problem
