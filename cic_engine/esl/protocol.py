"""FreeSWITCH's event-socket wire protocol, sans I/O: bytes in, frames and events out; commands
out as bytes. No sockets here, so it is tested with byte strings (the captures in
shared/fixtures/esl, whole and a byte at a time) and benchmarked without a network.

The wire (mod_event_socket.c): a message is `Name: value` header lines ended by an empty line;
`Content-Length` means exactly that many bytes of body follow. Events come as
`text/event-plain` (the body is URL-encoded header lines, an empty line, then possibly the
event's own body, sized by its own Content-Length) or `text/event-json` (one JSON object, the
event body under `_body`). Header lines are split first and each value is URL-decoded after,
so a `%0A` in a caller's name cannot forge a header; lengths count bytes, never characters.
Anything that breaks these rules is an ESLProtocolError, the one exception for bad peer input.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import unquote

MAX_HEADER_BLOCK = 256 * 1024  # a connect reply carries the whole channel: a few KiB in practice
MAX_BODY = 64 * 1024 * 1024  # `show channels as json` on a busy switch


class ESLProtocolError(Exception):
    """The peer sent something that is not FreeSWITCH's event-socket protocol."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One message: its header lines (values URL-decoded) and its body bytes."""

    headers: dict[str, str]
    body: bytes = b""

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")

    @property
    def reply_text(self) -> str:
        return self.headers.get("Reply-Text", "")


class Event:
    """One event. A plain event's header lines are split only when something asks for more than
    a few of them: most events are looked at by name and one or two headers, and splitting ~150
    lines per event was the biggest cost of a call in the engine (bench/esl.py)."""

    __slots__ = ("_block", "_headers", "body", "name")

    def __init__(self, name: str, headers: dict[str, str] | None = None, body: str = "", block: str | None = None):
        self.name = name
        self.body = body
        self._headers = headers
        self._block = block

    def __repr__(self) -> str:
        return f"Event({self.name!r}, uuid={self.uuid!r})"

    @property
    def headers(self) -> dict[str, str]:
        if self._headers is None:
            self._headers = _header_lines(self._block or "")
        return self._headers

    def get(self, name: str, default: str | None = None) -> str | None:
        if self._headers is not None:
            return self._headers.get(name, default)
        value = _find_header(self._block or "", name)
        return default if value is None else value

    @property
    def uuid(self) -> str | None:
        return self.get("Unique-ID")

    @property
    def subclass(self) -> str | None:
        return self.get("Event-Subclass")


def _find_header(block: str, name: str) -> str | None:
    """One header's value, read straight from the block. Values are URL-encoded, so a line
    break inside the block always starts a header line; the last line of a name wins, as in
    the parsed dict."""
    key = f"\n{name}:"
    at = block.rfind(key)
    if at >= 0:
        start = at + len(key)
    elif block.startswith(key[1:]):
        start = len(key) - 1
    else:
        return None
    end = block.find("\n", start)
    value = block[start:end] if end >= 0 else block[start:]
    if not value:
        return ""  # `Name:` with an empty value
    if value[0] != " ":
        return _find_header(block[:at], name) if at > 0 else None  # `Name:x`, not a header line: look further up
    value = value[1:]
    return _unquote(value) if "%" in value else value


def parse_header_lines(block: bytes) -> dict[str, str]:
    """`Name: value` lines, split first and then each value URL-decoded."""
    return _header_lines(_utf8(block))


def _utf8(block: bytes) -> str:
    try:
        return block.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ESLProtocolError(f"header block is not UTF-8: {block[max(0, exc.start - 40):exc.start + 40]!r}") from None


def _header_lines(text: str) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in text.split("\n"):
        name, sep, value = line.partition(": ")
        if not sep:
            if not (line.endswith(":") and len(line) > 1):
                raise ESLProtocolError(f"not a header line: {line[:80]!r}")
            name = line[:-1]  # `Name:` with an empty value
        elif not name:
            raise ESLProtocolError(f"header line without a name: {line[:80]!r}")
        headers[name] = _unquote(value) if "%" in value else value
    return headers


# Escapes of ASCII characters, in both cases of hex digits: by far the most common (dates, colons).
_ASCII_ESCAPES = {f"{i:02{case}}": chr(i) for i in range(128) for case in "xX"}


def _unquote(value: str) -> str:
    parts = value.split("%")
    out = [parts[0]]
    for part in parts[1:]:
        char = _ASCII_ESCAPES.get(part[:2])
        if char is None:
            # UTF-8 bytes or a stray %: the general decoder; bytes that are not UTF-8 become U+FFFD.
            return unquote(value, errors="replace")
        out.append(char)
        out.append(part[2:])
    return "".join(out)


def _content_length(headers: dict[str, str], where: str) -> int:
    raw = headers.get("Content-Length")
    if raw is None:
        return 0
    if not raw.isdigit():
        raise ESLProtocolError(f"bad Content-Length {raw[:40]!r} in {where}")
    length = int(raw)
    if length > MAX_BODY:
        raise ESLProtocolError(f"Content-Length {length} in {where} is over the {MAX_BODY}-byte limit")
    return length


class FrameReader:
    """Feed bytes as they arrive; take complete frames out. After an ESLProtocolError the stream
    cannot be trusted: drop the connection and the reader with it."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._headers: dict[str, str] | None = None  # read, waiting for their body
        self._need = 0

    def feed(self, data: bytes) -> list[Frame]:
        self._buffer += data
        frames: list[Frame] = []
        buffer = self._buffer
        start = 0
        while True:
            if self._headers is None:
                end = buffer.find(b"\n\n", start)
                if end < 0:
                    if len(buffer) - start > MAX_HEADER_BLOCK:
                        raise ESLProtocolError(f"no end of headers within {MAX_HEADER_BLOCK} bytes")
                    break
                if end == start:
                    raise ESLProtocolError("empty header block")
                self._headers = parse_header_lines(bytes(buffer[start:end]))
                self._need = _content_length(self._headers, self._headers.get("Content-Type", "a message"))
                start = end + 2
            if len(buffer) - start < self._need:
                break
            body = bytes(buffer[start:start + self._need])
            start += self._need
            frames.append(Frame(self._headers, body))
            self._headers, self._need = None, 0
        del buffer[:start]
        return frames

    @property
    def pending(self) -> int:
        """Bytes received and not yet part of a frame."""
        return len(self._buffer)


def parse_event(frame: Frame) -> Event:
    """The event carried by a text/event-plain or text/event-json frame."""
    if frame.content_type == "text/event-plain":
        return _plain_event(frame.body)
    if frame.content_type == "text/event-json":
        return _json_event(frame.body)
    raise ESLProtocolError(f"not an event: Content-Type {frame.content_type!r}")


def _plain_event(body: bytes) -> Event:
    end = body.find(b"\n\n")
    raw, rest = (body[:end], body[end + 2:]) if end >= 0 else (body.rstrip(b"\n"), b"")
    block = _utf8(raw)
    # FreeSWITCH writes Event-Name first; anything else is looked for.
    end = block.find("\n")
    first = block[12:end if end >= 0 else None] if block.startswith("Event-Name: ") else ""
    name = first if first and "%" not in first else _find_header(block, "Event-Name")
    if not name:
        raise ESLProtocolError("event without Event-Name")
    length = 0
    declared = _find_header(block, "Content-Length")
    if declared is not None:
        length = _content_length({"Content-Length": declared}, "an event")
    if len(rest) < length:
        raise ESLProtocolError(f"event body is {len(rest)} bytes, its Content-Length says {length}")
    return Event(name, None, rest[:length].decode("utf-8", errors="replace"), block=block)


def _json_event(body: bytes) -> Event:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ESLProtocolError(f"event is not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("Event-Name"), str):
        raise ESLProtocolError("JSON event without Event-Name")
    event_body = data.pop("_body", "")
    headers = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}
    return Event(headers["Event-Name"], headers, event_body if isinstance(event_body, str) else json.dumps(event_body))


class CommandError(ValueError):
    """A command we were about to send would not be one command on the wire."""


def _line(text: str, what: str) -> str:
    if "\n" in text or "\r" in text:
        raise CommandError(f"{what} must be one line: {text[:80]!r}")
    return text


def command(line: str, headers: dict[str, str] | None = None, body: bytes = b"") -> bytes:
    """One command: its line, its header lines, an empty line, then the body (sized by a
    Content-Length header we add)."""
    out = [_line(line, "command")]
    for name, value in (headers or {}).items():
        out.append(f"{_line(name, 'header name')}: {_line(value, 'header value')}")
    if body:
        out.append(f"Content-Length: {len(body)}")
    return ("\n".join(out) + "\n\n").encode() + body


def subscribe(fmt: str, names: tuple[str, ...] | list[str]) -> bytes:
    """`event <fmt> <names>`: event names first, then CUSTOM and the subclasses. FreeSWITCH
    reads every word after CUSTOM as a subclass (mod_event_socket parse_command), so an event
    name placed after them would silently never be sent."""
    subclasses = [n for n in names if "::" in n]
    plain = [n for n in names if "::" not in n and n != "CUSTOM"]
    custom = ["CUSTOM", *subclasses] if subclasses or "CUSTOM" in names else []
    return command(f"event {fmt} {' '.join(dict.fromkeys([*plain, *custom]))}")


def sendmsg(uuid: str | None, call_command: str, **headers: str) -> bytes:
    """`sendmsg [uuid]` with `call-command` and its headers; keyword names use `_` for `-`
    (execute_app_name -> execute-app-name)."""
    fields = {"call-command": call_command, **{k.replace("_", "-"): v for k, v in headers.items()}}
    return command(f"sendmsg {uuid}" if uuid else "sendmsg", fields)


def execute(uuid: str | None, app: str, arg: str = "", *, lock: bool = False, event_uuid: str | None = None) -> bytes:
    """Run a dialplan application on a channel (sendmsg call-command: execute)."""
    headers = {"execute-app-name": app}
    if arg:
        headers["execute-app-arg"] = arg
    if lock:
        headers["event-lock"] = "true"
    if event_uuid:
        headers["Event-UUID"] = event_uuid
    return command(f"sendmsg {uuid}" if uuid else "sendmsg", {"call-command": "execute", **headers})
