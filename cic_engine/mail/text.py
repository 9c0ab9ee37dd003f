"""Plain-text helpers: charsets that mail really uses, format=flowed, HTML to text, and the
preview an agent sees (quoted history and signature trimmed; the original is kept)."""

from __future__ import annotations

import codecs
import html
import re

import charset_normalizer
import nh3

# Declared charsets and what to decode them with: GB2312 and GBK mail is routinely written with
# characters only GB18030 (their superset) has; Big5 mail with the HKSCS extension.
_SUPERSETS = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "cp936": "gb18030", "euc-cn": "gb18030",
              "big5": "big5hkscs", "x-big5": "big5hkscs", "ks_c_5601-1987": "cp949", "iso-8859-1": "cp1252",
              "us-ascii": "utf-8", "ascii": "utf-8", "unknown-8bit": "utf-8", "x-unknown": "utf-8"}


def superset(charset: str | None) -> str | None:
    """The codec to read a declared charset with (its superset), or None when Python has none."""
    declared = (charset or "").strip().strip('"').lower()
    name = _SUPERSETS.get(declared, declared or "utf-8")
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode_text(data: bytes, charset: str | None) -> tuple[str, str | None]:
    """Text of a part, never failing: (text, a note when it had to guess or replace). The
    declared charset (read as its superset) first, then UTF-8, then a detector."""
    declared = (charset or "").strip().strip('"').lower()
    name = superset(declared) or "utf-8"
    try:
        return data.decode(name), None if declared or data.isascii() else "no charset declared; read as UTF-8"
    except UnicodeDecodeError:
        pass
    if name != "utf-8":
        try:
            return data.decode("utf-8"), f"declared {declared or 'nothing'} but was UTF-8"
        except UnicodeDecodeError:
            pass
    # A UTF-8 lead byte before a continuation byte: UTF-8 with errors, not another charset.
    found = None if _UTF8_PAIR.search(data) and _chinese(data) is None else detect(data)
    if found is not None:
        text, how = found
        return text, (f"declared {declared} but was {how}" if declared and declared not in ("us-ascii", "ascii")
                      else f"no charset declared; read as {how}")
    return data.decode(name, errors="replace"), f"bytes that are not {name} were replaced"


_UTF8_PAIR = re.compile(rb"[\xc2-\xf4][\x80-\xbf]")
_CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")
_DETECTABLE = ["cp1252", "iso8859_2", "koi8_r", "cp1251", "iso8859_7", "shift_jis", "euc_kr", "big5", "gb18030"]


def _chinese(data: bytes) -> str | None:
    """The text, when the bytes read as Chinese in GB18030: every non-ASCII character a CJK one
    made of two high bytes (a Latin-1 letter before an ASCII one would also decode, but as a
    lone ideograph)."""
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        return None
    wide = [c for c in text if ord(c) >= 0x80]
    if all(_CJK.match(c) for c in wide) and sum(b >= 0x80 for b in data) == 2 * len(wide):
        return text
    return None


def detect(data: bytes) -> tuple[str, str] | None:
    """(text, how it was read) for 8-bit bytes in no known charset: GB18030 when they read as
    Chinese, else what charset-normalizer finds likeliest (its guesses on a few words are poor,
    so Chinese is settled first)."""
    text = _chinese(data)
    if text is not None:
        return text, "gb18030 (it reads as Chinese)"
    best = charset_normalizer.from_bytes(data, cp_isolation=_DETECTABLE).best()
    if best is None:
        return None
    return str(best), f"{best.encoding} (detected)"


def unflow(text: str, delsp: bool) -> str:
    """RFC 3676 format=flowed: lines ending in a space continue on the next line (of the same
    quote depth); space-stuffing is undone."""
    out: list[str] = []
    current: str | None = None
    current_depth = -1
    for raw in text.split("\n"):
        line = raw.rstrip("\r")
        depth = len(line) - len(line.lstrip(">"))
        body = line[depth:]
        if body.startswith(" "):
            body = body[1:]  # space-stuffed
        flowed = body.endswith(" ") and body != "-- "
        if current is not None and depth == current_depth:
            current += body
        else:
            if current is not None:
                out.append(">" * current_depth + (" " if current_depth else "") + current)
            current, current_depth = body, depth
        if flowed:
            if delsp:
                current = current[:-1]
        else:
            out.append(">" * current_depth + (" " if current_depth else "") + current)
            current, current_depth = None, -1
    if current is not None:
        out.append(">" * current_depth + (" " if current_depth else "") + current)
    return "\n".join(out)


def sanitise_html(markup: str) -> str:
    """HTML safe to show in the inbox: no scripts, handlers, styles that run, or remote loads
    beyond plain links and images."""
    return nh3.clean(markup, link_rel="noopener noreferrer nofollow")


_BLOCK_END = re.compile(r"(?i)</(p|div|tr|li|h[1-6]|blockquote)>|<br\s*/?>")


def html_to_text(markup: str) -> str:
    spaced = _BLOCK_END.sub("\n", markup)
    text = html.unescape(nh3.clean(spaced, tags=set()))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(line.strip() for line in text.splitlines())).strip()


# Where quoted history starts, in the clients our customers use.
_HISTORY = re.compile(
    r"^(On .{1,300} wrote:|在 .{1,300}写道[:：]|.{0,80}於 .{1,200}寫道[:：]|-{2,} ?Original Message ?-{2,}|"
    r"-{2,} ?原始邮件 ?-{2,}|From: .{1,300}|发件人[:：].{0,300}|寄件者[:：].{0,300}|_{10,})\s*$",
    re.MULTILINE)


def preview(text: str, limit: int = 2000) -> str:
    """The new part of a message: up to the quoted history or the signature."""
    cut = len(text)
    match = _HISTORY.search(text)
    if match:
        cut = match.start()
    sig = text.find("\n-- \n")
    if 0 <= sig < cut:
        cut = sig
    lines = [line for line in text[:cut].splitlines() if not line.startswith(">")]
    return "\n".join(lines).strip()[:limit]
