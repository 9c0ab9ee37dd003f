"""The one asyncio loop of a node, for the asyncio libraries (aioimaplib, aiosmtplib), and the
bridge that lets greenlets wait for its coroutines.

The loop runs in one real OS thread, started with the interpreter's own `_thread.start_new_thread`
(after patch_all, even threading's original Thread class starts greenlets: it calls the
patched start function). A greenlet submits a coroutine and waits on a gevent
AsyncResult; the loop's thread completes it through the hub's thread-safe callback, so the
waiting greenlet blocks only itself. The loop gets a real selector and a default executor of
real threads: under patch_all() the stock ones are gevent's, and asyncio.to_thread (which
aiosmtplib uses) would hang on them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

import gevent
from gevent import monkey
from gevent.event import AsyncResult

log = logging.getLogger(__name__)
T = TypeVar("T")

_loop: asyncio.AbstractEventLoop | None = None
_thread = None


class _RealThreadPool(concurrent.futures.ThreadPoolExecutor):
    """A pool of real OS threads fed by the interpreter's own queue. asyncio insists on a
    ThreadPoolExecutor; the stock one's threads and queue are gevent's after patch_all."""

    def __init__(self, workers: int = 4):  # noqa: D107 - the parent's state is not used
        super().__init__(max_workers=1)
        self._work = monkey.get_original("queue", "SimpleQueue")()
        self._workers = workers
        start_thread = monkey.get_original("_thread", "start_new_thread")
        for _ in range(workers):
            start_thread(self._worker, ())

    def _worker(self) -> None:
        while True:
            item = self._work.get()
            if item is None:
                return
            future, fn, args, kwargs = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting coroutine
                future.set_exception(exc)

    def submit(self, fn, /, *args, **kwargs):
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._work.put((future, fn, args, kwargs))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        for _ in range(self._workers):
            self._work.put(None)


def loop() -> asyncio.AbstractEventLoop:
    """The node's asyncio loop, started on first use."""
    global _loop, _thread
    if _loop is not None:
        return _loop
    selector = monkey.get_original("selectors", "DefaultSelector")()
    new_loop = asyncio.SelectorEventLoop(selector)
    new_loop.set_default_executor(_RealThreadPool())
    # A lock of the interpreter's own (threading's classes are gevent's after patch_all, and
    # a gevent lock cannot be released from another OS thread).
    started = monkey.get_original("_thread", "allocate_lock")()
    started.acquire()

    def run() -> None:
        asyncio.set_event_loop(new_loop)
        new_loop.call_soon(started.release)
        new_loop.run_forever()

    _thread = monkey.get_original("_thread", "start_new_thread")(run, ())
    started.acquire()  # a moment, once per process
    _loop = new_loop
    return new_loop


def run(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run a coroutine on the asyncio loop and wait for it in this greenlet; its exception is
    raised here. On timeout the coroutine is cancelled and TimeoutError raised."""
    hub = gevent.get_hub()
    result: AsyncResult = AsyncResult()
    future = asyncio.run_coroutine_threadsafe(coro, loop())

    def done(f: concurrent.futures.Future) -> None:
        if f.cancelled():
            hub.loop.run_callback_threadsafe(result.set_exception, asyncio.CancelledError())
        elif f.exception() is not None:
            hub.loop.run_callback_threadsafe(result.set_exception, f.exception())
        else:
            hub.loop.run_callback_threadsafe(result.set, f.result())

    future.add_done_callback(done)
    try:
        return result.get(timeout=timeout)
    except gevent.Timeout:
        future.cancel()
        raise TimeoutError(f"asyncio work did not finish within {timeout}s") from None
    except BaseException:
        future.cancel()  # the greenlet was killed: the coroutine goes with it
        raise
