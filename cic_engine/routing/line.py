"""The waiting line as one routing pass sees it: the interactions its free agents could take,
in routing order, read a page per queue and channel at a time and merged.

Reading one global line from the head would make a free agent that suits nothing near the head
(a queue of its own, a skill nobody else has) scan everything in front of its work on every
pass. Each (queue, channel) line is read from its own index instead, only while some free agent
serves it, and a k-way merge keeps the global order exact: an item is handed out only once every
line that could hold something earlier has been read past it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator

from ..store import Conn
from ..store import routing as store_routing
from ..store.routing import Key, Waiting

EXTRA = (-1, "")  # the stream of items overflow opened to other queues' agents


def _key(item: Waiting) -> Key:
    return (item.rank_at, item.id)


class WaitingLine:
    def __init__(
        self, conn: Conn, streams: list[tuple[int, str]], extra_queue_ids: list[int],
        relevant: Callable[[int, str], bool], first_limit: int, max_limit: int, max_rows: int,
    ):
        self.conn = conn
        # Only when some queue has an add-queue step can an item wait in another queue's line.
        self.streams = [*streams, EXTRA] if extra_queue_ids else list(streams)
        self.extra_queue_ids = extra_queue_ids
        self.relevant = relevant
        self.limit, self.max_limit, self.rows_left = first_limit, max_limit, max_rows
        self.buffers: list[deque[Waiting]] = [deque() for _ in self.streams]
        self.after: list[Key | None] = [None] * len(self.streams)
        self.open = [True] * len(self.streams)  # more may be in the database

    def __iter__(self) -> Iterator[Waiting]:
        handed: set[int] = set()
        while True:
            self._refill()
            heads = [i for i, b in enumerate(self.buffers) if b]
            if not heads:
                return
            best = min(heads, key=lambda i: _key(self.buffers[i][0]))
            item = self.buffers[best].popleft()
            if item.id not in handed:  # an item can be in its queue's line and in EXTRA
                handed.add(item.id)
                yield item

    def _refill(self) -> None:
        for i, stream in enumerate(self.streams):
            if self.open[i] and stream != EXTRA and not self.relevant(*stream):
                self.open[i] = False  # no free agent left for this line
        todo = [i for i, stream in enumerate(self.streams) if self.open[i] and not self.buffers[i]]
        if not todo:
            return
        if self.rows_left <= 0:
            for i in todo:
                self.open[i] = False
            return
        limit = self.limit
        self.limit = min(self.max_limit, self.limit * 2)
        plain = [i for i in todo if self.streams[i] != EXTRA]
        if plain:
            rows = store_routing.waiting_heads(
                self.conn, [(*self.streams[i], self.after[i]) for i in plain], limit)
            for n, item in rows:
                self.buffers[plain[n]].append(item)
            self._advance(plain, limit, len(rows))
        if EXTRA in [self.streams[i] for i in todo]:
            extra = len(self.streams) - 1
            rows = store_routing.waiting_for_extra_queues(self.conn, self.extra_queue_ids, self.after[extra], limit)
            self.buffers[extra].extend(rows)
            self._advance([extra], limit, len(rows))

    def _advance(self, refilled: list[int], limit: int, fetched: int) -> None:
        self.rows_left -= fetched
        for i in refilled:
            buffer = self.buffers[i]
            if len(buffer) < limit:
                self.open[i] = False
            if buffer:
                self.after[i] = _key(buffer[-1])
