"""Live routing events reach a node's subscribers, and keep coming after its connection drops."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg

from tests import processes

from .conftest import agents

PROBE = Path(__file__).with_name("events_probe.py")


class Probe:
    """The probe process, its lines read by a thread (select on a buffered pipe misses lines)."""

    def __init__(self, db_url: str):
        self.proc = processes.spawn([sys.executable, str(PROBE), db_url], stdout=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [self.lines.put(line) for line in self.proc.stdout], daemon=True).start()

    def next_event(self, wanted: str, timeout: float = 10.0) -> dict:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                event = json.loads(self.lines.get(timeout=left))
            except queue.Empty:
                break
            if event["event"] == wanted:
                return event
        raise AssertionError(f"no {wanted} event within {timeout}s")

    def close(self) -> None:
        processes.stop(self.proc, signal.SIGKILL)


def test_subscribers_get_offers_and_agent_states_even_after_the_listener_reconnects(make_desk, db_url):
    desk = make_desk(agents=agents("alice"))
    probe = Probe(db_url)
    try:
        probe.next_event("listening")
        desk.available("alice")
        state = probe.next_event("agent.state")
        assert (state["agent_id"], state["data"]["to"]) == (desk.agent("alice"), "available")

        with psycopg.connect(db_url, autocommit=True) as conn:  # the database drops the listener
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'cic-events'")
        probe.next_event("listening")
        item = desk.contact("chat")
        desk.route()
        offered = probe.next_event("interaction.offered")
        assert (offered["interaction_id"], offered["agent_id"]) == (item, desk.agent("alice"))
        assert offered["data"]["channel"] == "chat" and offered["id"] > 0
    finally:
        probe.close()
