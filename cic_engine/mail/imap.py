"""A thin IMAP client over aioimaplib: the few commands the email adapter uses, with their
responses read into plain values. Coroutines; the adapter runs them through cic_engine.aio.

Errors are ImapError (the server said NO/BAD, or something unexpected), ConnectionError as soon
as the connection ends, or the transport's own (OSError, TimeoutError, aioimaplib's); the
adapter reconnects on any of them.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from dataclasses import dataclass

import aioimaplib

_FETCH = re.compile(rb"^\d+ FETCH \((.*)$")
_UID = re.compile(rb"UID (\d+)")
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")
_FLAGS = re.compile(rb"FLAGS \(([^)]*)\)")


class ImapError(RuntimeError):
    pass


def _set(uids: list[int]) -> str:
    """A UID set, with runs collapsed (1:100,105)."""
    runs: list[str] = []
    ordered = sorted(set(uids))
    start = prev = ordered[0]
    for uid in ordered[1:] + [None]:
        if uid is not None and uid == prev + 1:
            prev = uid
            continue
        runs.append(str(start) if start == prev else f"{start}:{prev}")
        if uid is not None:
            start = prev = uid
    return ",".join(runs)


@dataclass(frozen=True)
class Fetched:
    uid: int
    size: int | None
    flags: str
    body: bytes | None


def _ok(response, what: str):
    if response.result != "OK":
        text = b" ".join(x for x in response.lines if isinstance(x, bytes))[:300].decode(errors="replace")
        raise ImapError(f"{what}: {response.result} {text}")
    return response


def parse_fetch(lines: list) -> list[Fetched]:
    """aioimaplib's FETCH lines: `n FETCH (UID u RFC822.SIZE s FLAGS (...) BODY[] {len}`, then the
    literal (a bytearray), then `)`; or all on one line when there is no literal."""
    out: list[Fetched] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not isinstance(line, bytes | bytearray):
            continue
        match = _FETCH.match(bytes(line))
        if not match:
            continue
        head = match.group(1)
        body = None
        if head.rstrip().endswith(b"}") and i < len(lines) and isinstance(lines[i], bytearray):
            body = bytes(lines[i])
            i += 1
            # The rest of the item list (e.g. `UID 7)` after the literal) is on the next line.
            if i < len(lines) and isinstance(lines[i], bytes) and not _FETCH.match(lines[i]):
                head += b" " + lines[i]
                i += 1
        uid = _UID.search(head)
        if uid is None:
            continue
        size = _SIZE.search(head)
        flags = _FLAGS.search(head)
        out.append(Fetched(uid=int(uid.group(1)), size=int(size.group(1)) if size else None,
                           flags=flags.group(1).decode(errors="replace") if flags else "", body=body))
    return out


class ImapSession:
    def __init__(self, client: aioimaplib.IMAP4):
        self.client = client
        self.capabilities: set[str] = set()
        self._lost: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        client.protocol.conn_lost_cb = self._connection_lost

    def _connection_lost(self, exc: Exception | None) -> None:
        if not self._lost.done():
            self._lost.set_result(repr(exc) if exc else "closed by the server")

    async def _command(self, awaitable):
        """A command's response, or ConnectionError as soon as the connection ends: aioimaplib
        lets a command (or IDLE) on a closed connection wait for its whole timeout, and drops
        the BYE of a server restarting between two commands."""
        if self._lost.done():
            raise ConnectionError(f"IMAP connection lost: {self._lost.result()}")
        task = asyncio.ensure_future(awaitable)
        try:
            await asyncio.wait({task, self._lost}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            task.cancel()
            raise
        if task.done():
            return task.result()
        task.cancel()
        raise ConnectionError(f"IMAP connection lost: {self._lost.result()}")

    @classmethod
    async def open(cls, host: str, port: int, tls: bool, username: str, password: str, timeout: float) -> ImapSession:
        if tls:
            client = aioimaplib.IMAP4_SSL(host=host, port=port, timeout=timeout, ssl_context=ssl.create_default_context())
        else:
            client = aioimaplib.IMAP4(host=host, port=port, timeout=timeout)
        session = cls(client)
        await session._command(asyncio.wait_for(client.wait_hello_from_server(), timeout))
        response = await session._command(client.login(username, password))
        if response.result != "OK":
            await session.close()
            raise ImapError(f"login refused for {username}: "
                            + b" ".join(x for x in response.lines if isinstance(x, bytes)).decode(errors="replace"))
        session.capabilities = {c.upper() for c in client.protocol.capabilities}
        return session

    @property
    def idle(self) -> bool:
        return "IDLE" in self.capabilities

    @property
    def can_move(self) -> bool:
        return "MOVE" in self.capabilities

    async def select(self, folder: str) -> tuple[int, int | None]:
        """(UIDVALIDITY, UIDNEXT) of the folder, now selected."""
        response = _ok(await self._command(self.client.select(folder)), f"SELECT {folder}")
        validity = next_uid = None
        for line in response.lines:
            if isinstance(line, bytes):
                if m := re.search(rb"UIDVALIDITY (\d+)", line):
                    validity = int(m.group(1))
                if m := re.search(rb"UIDNEXT (\d+)", line):
                    next_uid = int(m.group(1))
        if validity is None:
            raise ImapError(f"SELECT {folder}: no UIDVALIDITY")
        return validity, next_uid

    async def create(self, folder: str) -> None:
        await self._command(self.client.create(folder))  # NO when it exists: fine

    async def uids_from(self, first: int) -> list[int]:
        response = _ok(await self._command(self.client.uid_search(f"UID {first}:*", charset=None)), "UID SEARCH")
        uids: list[int] = []
        for line in response.lines:
            if isinstance(line, bytes) and line and line[:1].isdigit():
                uids += [int(x) for x in line.split()]
        # `n:*` always matches the last message, even below n.
        return sorted(u for u in set(uids) if u >= first)

    async def sizes(self, uids: list[int]) -> dict[int, Fetched]:
        if not uids:
            return {}
        response = _ok(await self._command(self.client.uid("fetch", _set(uids), "(UID RFC822.SIZE FLAGS)")), "FETCH sizes")
        return {f.uid: f for f in parse_fetch(response.lines)}

    async def fetch(self, uids: list[int], headers_only: bool = False) -> dict[int, bytes]:
        """The messages (or only their headers), by UID, in one command. A message deleted
        meanwhile is simply not in the answer."""
        if not uids:
            return {}
        part = "BODY.PEEK[HEADER]" if headers_only else "BODY.PEEK[]"
        response = _ok(await self._command(self.client.uid("fetch", _set(uids), f"(UID {part})")), f"FETCH {_set(uids)[:40]}")
        return {f.uid: f.body for f in parse_fetch(response.lines) if f.body is not None}

    async def mark_seen(self, uids: list[int]) -> None:
        _ok(await self._command(self.client.uid("store", _set(uids), "+FLAGS.SILENT (\\Seen)")), "STORE \\Seen")

    async def move(self, uids: list[int], folder: str) -> None:
        if self.can_move:
            _ok(await self._command(self.client.uid("move", _set(uids), folder)), f"MOVE to {folder}")
            return
        _ok(await self._command(self.client.uid("copy", _set(uids), folder)), f"COPY to {folder}")
        _ok(await self._command(self.client.uid("store", _set(uids), "+FLAGS.SILENT (\\Deleted \\Seen)")), "STORE \\Deleted")
        _ok(await self._command(self.client.expunge()), "EXPUNGE")

    async def append(self, raw: bytes, folder: str, flags: str = "(\\Seen)") -> None:
        _ok(await self._command(self.client.append(raw, mailbox=folder, flags=flags)), f"APPEND {folder}")

    async def wait_for_mail(self, seconds: float) -> bool:
        """IDLE until the server says something changed or `seconds` pass (renew before the
        server's 29-minute limit); True when it pushed something."""
        idle = await self._command(self.client.idle_start(timeout=seconds + 30))
        pushed = False
        try:
            while True:
                lines = await self._command(self.client.wait_server_push(timeout=seconds))
                if lines == aioimaplib.STOP_WAIT_SERVER_PUSH:
                    break
                if any(isinstance(x, bytes) and (b"EXISTS" in x or b"RECENT" in x) for x in lines):
                    pushed = True
                    break
        except TimeoutError:
            pass
        finally:
            if self._lost.done():
                idle.cancel()
            else:
                if self.client.has_pending_idle():
                    self.client.idle_done()
                await self._command(asyncio.wait_for(idle, 30))
        return pushed

    async def close(self) -> None:
        if self._lost.done():
            return
        try:
            await asyncio.wait_for(self.client.logout(), 5)
        except Exception:  # noqa: BLE001 - the connection is being dropped anyway
            pass
