"""The test SMSC, run in its own process (server.py), and its handle for tests."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

from tests import processes
from tests.core.test_run import free_port

ROOT = Path(__file__).resolve().parents[2]


class TestSmsc:
    __test__ = False  # not a test class

    def __init__(self):
        self.port = free_port()
        self.control_port = free_port()
        self.proc: subprocess.Popen | None = None

    def start(self) -> TestSmsc:
        self.proc = processes.spawn([sys.executable, "-m", "tests.smsc.server", str(self.port), str(self.control_port)],
                                    cwd=ROOT, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line.strip() == "ready", f"the test SMSC did not start: {line!r}"
        return self

    def ask(self, **request) -> dict:
        with socket.create_connection(("127.0.0.1", self.control_port), timeout=20) as s:
            s.sendall(json.dumps(request).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        answer = json.loads(data)
        assert "error" not in answer, answer["error"]
        return answer

    def submits(self) -> list[dict]:
        return self.ask(cmd="submits")["submits"]

    def deliver(self, source: str, destination: str, body: bytes, data_coding: int = 0, esm_class: int = 0,
                source_ton: int = 1) -> int:
        """A deliver_sm to the bound ESME (TON 1: an international number without its +)."""
        return self.ask(cmd="deliver", source=source, destination=destination, body_hex=body.hex(),
                        data_coding=data_coding, esm_class=esm_class, source_ton=source_ton)["status"]

    def stop(self) -> None:
        if self.proc is not None:
            processes.stop(self.proc, signal.SIGKILL)

    def restart(self) -> None:
        self.stop()
        self.start()
