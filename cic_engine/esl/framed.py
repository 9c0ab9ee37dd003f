"""One event-socket connection's plumbing, shared by the inbound connection and outbound calls:
a gevent socket read into frames, commands sent under a lock, and their replies handed back in
order (FreeSWITCH answers the commands of one connection in the order they were sent)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import gevent
from gevent import socket
from gevent.event import AsyncResult
from gevent.lock import Semaphore

from .protocol import Frame, FrameReader

READ_SIZE = 65536


class ESLError(RuntimeError):
    """A command could not be completed: not connected, timed out, or the connection ended."""


class FramedSocket:
    def __init__(self, sock: socket.socket, name: str):
        # Commands and replies are small writes that wait on each other: with Nagle's algorithm
        # and delayed ACKs each exchange could stall for tens of milliseconds.
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass  # not TCP (a test's socketpair)
        self.sock = sock
        self.name = name
        self._reader = FrameReader()
        self._frames: deque[Frame] = deque()
        self._waiting: deque[AsyncResult] = deque()
        self._send_lock = Semaphore()
        self.closed = False

    def read_frame(self) -> Frame:
        """The next frame (blocks this greenlet); ESLError when the peer closes."""
        while not self._frames:
            data = self.sock.recv(READ_SIZE)
            if not data:
                raise ESLError(f"{self.name}: the peer closed the connection")
            self._frames.extend(self._reader.feed(data))
        return self._frames.popleft()

    def send(self, data: bytes) -> None:
        with self._send_lock:
            self._sendall(data)

    def request(self, data: bytes, timeout: float) -> Frame:
        """Send a command and wait for its reply, which the reading greenlet hands to `reply`."""
        result: AsyncResult = AsyncResult()
        with self._send_lock:  # a command and its place among the replies go together
            if self.closed:
                raise ESLError(f"{self.name}: connection closed")
            self._waiting.append(result)
            try:
                self._sendall(data)
            except ESLError:
                self._waiting.remove(result)
                raise
        try:
            return result.get(timeout=timeout)
        except gevent.Timeout:
            # A late reply would be taken for the next command's: this connection is done.
            self.abort()
            raise ESLError(f"{self.name}: no reply within {timeout}s") from None

    def reply(self, frame: Frame) -> bool:
        """Hand a reply to the oldest waiting command; False if nobody waits for one."""
        if not self._waiting:
            return False
        self._waiting.popleft().set(frame)
        return True

    def _sendall(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise ESLError(f"{self.name}: send failed: {exc}") from exc

    def abort(self) -> None:
        """Make the reading greenlet see the end of the connection."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def close(self, error: Exception) -> None:
        """Close, failing every command still waiting with `error`."""
        self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass
        while self._waiting:
            self._waiting.popleft().set_exception(error)


def completed_later(registry: dict[str, AsyncResult], key: str, send: Callable[[], Frame], what: str) -> AsyncResult:
    """Register a result that a later event completes under `key` (a BACKGROUND_JOB's Job-UUID,
    a CHANNEL_EXECUTE_COMPLETE's Application-UUID), then send the command that starts it. A
    command that fails or is refused takes the registration back."""
    result: AsyncResult = AsyncResult()
    registry[key] = result
    try:
        reply = send()
    except ESLError:
        registry.pop(key, None)
        raise
    if not reply.reply_text.startswith("+OK"):
        registry.pop(key, None)
        raise ESLError(f"{what} refused: {reply.reply_text}")
    return result
