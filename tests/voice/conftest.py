"""Voice tests run against the event-socket simulator."""

from __future__ import annotations

import pytest

from tests.fakeswitch.switch import FakeSwitch


@pytest.fixture
def switch():
    """A simulated FreeSWITCH: its inbound event socket, and calls for the engine's outbound socket."""
    s = FakeSwitch().start()
    yield s
    s.stop()
