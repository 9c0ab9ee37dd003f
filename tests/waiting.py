"""Polling for a condition in a test that runs a real engine in another process."""

from __future__ import annotations

import time


def wait_for(condition, timeout: float = 20.0, what: str = "condition"):
    """The condition's first truthy value, polled every 50 ms; AssertionError after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"{what} not met within {timeout}s")
