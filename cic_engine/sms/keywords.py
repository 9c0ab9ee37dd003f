"""Opt-out and opt-in by keyword: a customer who texts STOP (or 退订, TD...) gets no more SMS
until they text START. Only a message that is the keyword counts, so that "don't stop the
delivery" opts nobody out."""

from __future__ import annotations

import re
import unicodedata

DEFAULT_OPT_OUT = ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "退订", "TD", "T", "取消")
DEFAULT_OPT_IN = ("START", "UNSTOP", "订阅", "DY")
_EDGES = re.compile(r"^[\s\W_]+|[\s\W_]+$", re.UNICODE)


def normal(text: str) -> str:
    """Upper case, full-width letters made plain (ＳＴＯＰ), punctuation and spaces at the ends
    dropped."""
    return _EDGES.sub("", unicodedata.normalize("NFKC", text)).upper()


def keyword(text: str, opt_out: tuple[str, ...] = DEFAULT_OPT_OUT,
            opt_in: tuple[str, ...] = DEFAULT_OPT_IN) -> str | None:
    """"opt-out", "opt-in", or None for an ordinary message."""
    word = normal(text)
    if word in {normal(k) for k in opt_out}:
        return "opt-out"
    if word in {normal(k) for k in opt_in}:
        return "opt-in"
    return None
