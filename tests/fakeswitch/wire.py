"""How FreeSWITCH writes its event socket, for the simulator: event serialization (plain and
JSON), the URL-encoding of plain values, and message framing. Checked byte for byte against
the captures in captures/ (tests/voice/test_fakeswitch_wire.py).

The sources (signalwire/freeswitch): switch_event_serialize / switch_event_serialize_json in
src/switch_event.c, switch_url_encode and SWITCH_URL_UNSAFE in src/switch_utils.c and
src/include/switch_utils.h, the framing in mod_event_socket.c.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from urllib.parse import quote

# src/include/switch_utils.h: these, control characters and every byte over 0x7E are %XX-encoded.
URL_UNSAFE = frozenset(b"\r\n #%&+:;<=>?@[\\]^`{|}\"")

Headers = list[tuple[str, str]]  # in order; FreeSWITCH repeats some (Hangup-Cause)


# Printable ASCII that FreeSWITCH leaves as it is; everything else is %XX (uppercase hex).
_KEEP = "".join(chr(b) for b in range(0x21, 0x7F) if b not in URL_UNSAFE)
_NEEDS_ENCODING = re.compile(f"[^{re.escape(_KEEP)}]")


@lru_cache(maxsize=1 << 16)  # the same values recur in every event of a call, and across calls: load runs
def url_encode(value: str) -> str:
    if not _NEEDS_ENCODING.search(value):
        return value  # most values: ids, numbers, names without spaces
    return quote(value, safe=_KEEP)


@lru_cache(maxsize=1 << 17)
def _plain_line(name: str, value: str) -> str:
    return f"{name}: {url_encode(value)}\n"


def message(headers: Headers, body: bytes = b"") -> bytes:
    """A message as mod_event_socket writes it: header lines, an empty line, the body."""
    lines = "".join(f"{name}: {value}\n" for name, value in headers)
    return lines.encode() + b"\n" + body


def plain_event(headers: Headers, body: str = "") -> bytes:
    """A text/event-plain message: its URL-encoded headers, and the event body, if any, sized by
    its own Content-Length."""
    inner = "".join([_plain_line(name, value) for name, value in headers])
    if body:
        encoded = body.encode()
        payload = (inner + f"Content-Length: {len(encoded)}\n\n").encode() + encoded
    else:
        payload = (inner + "\n").encode()
    return message([("Content-Length", str(len(payload))), ("Content-Type", "text/event-plain")], payload)


def json_event(headers: Headers, body: str = "") -> bytes:
    """A text/event-json message: one object, keys in order (repeats kept, as cJSON writes them),
    the event body under `_body` after its Content-Length."""
    members = [(name, value) for name, value in headers]
    if body:
        members += [("Content-Length", str(len(body.encode()))), ("_body", body)]
    payload = ("{" + ",".join(f"{_js(k)}:{_js(v)}" for k, v in members) + "}").encode()
    return message([("Content-Length", str(len(payload))), ("Content-Type", "text/event-json")], payload)


@lru_cache(maxsize=1 << 16)
def _js(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def command_reply(reply_text: str, *extra: tuple[str, str]) -> bytes:
    return message([("Content-Type", "command/reply"), ("Reply-Text", reply_text), *extra])


def api_response(output: str) -> bytes:
    body = output.encode()
    return message([("Content-Type", "api/response"), ("Content-Length", str(len(body)))], body)


def disconnect_notice(text: str, *extra: tuple[str, str]) -> bytes:
    body = text.encode()
    return message([("Content-Type", "text/disconnect-notice"), *extra, ("Content-Length", str(len(body)))], body)


def header_pairs(block: bytes) -> Headers:
    """The header lines of a plain event body as pairs, repeats kept, values decoded."""
    from urllib.parse import unquote

    pairs = []
    for line in block.decode().split("\n"):
        name, _, value = line.partition(": ")
        pairs.append((name, unquote(value)))
    return pairs


def read_commands(sock):
    """What a client sends, command by command: (line, headers), until it closes. Commands are
    framed like messages: a line, header lines, an empty line."""
    buffer = b""
    while True:
        try:
            data = sock.recv(65536)
        except OSError:
            return
        if not data:
            return
        buffer += data
        while b"\n\n" in buffer:
            block, buffer = buffer.split(b"\n\n", 1)
            line, *header_lines = block.decode().split("\n")
            yield line, dict(h.split(": ", 1) for h in header_lines if ": " in h)
