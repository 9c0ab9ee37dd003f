"""Which language a customer writes in (en or zh-CN), for what we send them unasked: case
notices and surveys. The widget says its language; otherwise the customer's own latest words
tell (any Chinese characters: Chinese)."""

from __future__ import annotations

import re
from typing import Literal

from .store import Conn

Language = Literal["en", "zh-CN"]
LANGUAGES: tuple[str, ...] = ("en", "zh-CN")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]{2,}")


def of_text(text: str) -> str | None:
    if _HAN.search(text):
        return "zh-CN"
    return "en" if _LATIN.search(text) else None


def of_interaction(conn: Conn, interaction_id: int) -> str | None:
    """The language of the customer's latest words in this interaction (None: nothing tells)."""
    rows = conn.execute(
        """SELECT m.metadata ->> 'language', p.body FROM messages m
           LEFT JOIN message_parts p ON p.message_id = m.id AND p.seq = 1
           WHERE m.interaction_id = %s AND m.direction = 'inbound' ORDER BY m.id DESC LIMIT 5""",
        (interaction_id,)).fetchall()
    for said, body in rows:
        if said in LANGUAGES:
            return said
        found = of_text(body or "")
        if found:
            return found
    return None
