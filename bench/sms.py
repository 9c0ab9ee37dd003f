"""Inbound SMS: N deliver_sm from the test SMSC (smpp34's server, 10 awaiting their answer at
once, 2,000 different senders) taken by the engine's SMPP adapter into interactions (each
committed before its deliver_sm_resp), against the same run's raw rate of the SMPP library
alone (python-smpplib answering each deliver_sm at once, doing nothing else), and against the
store's own ceiling: the same texts written straight through Engine.ingest_many, 100 to a
transaction and two at once (bench/_ceiling.py).

Last line: ceiling_ratio (engine / store ceiling; goal >= 0.5), ratio (engine / raw smpplib),
sms_s, raw_s, ceiling_s.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE] + [str(HERE)]
sys.path.insert(0, str(HERE.parent))

import psycopg  # noqa: E402
import smpplib.client  # noqa: E402
from _ceiling import ceiling_rate  # noqa: E402
from _database import bench_database  # noqa: E402

from cic_engine.models import Channel, ContentPart, InboundContact  # noqa: E402
from tests.core.test_run import free_port  # noqa: E402
from tests.smsc import TestSmsc  # noqa: E402

SMOKE = "--smoke" in sys.argv  # make bench-smoke: a tiny run, so that the benchmark cannot rot
ARGS = [a for a in sys.argv[1:] if a != "--smoke"]
MESSAGES = 60 if SMOKE else int(ARGS[0]) if ARGS else 3000
OURS = "10690000"


def wait_bound(smsc: TestSmsc, who: list[str]) -> None:
    deadline = time.monotonic() + 30
    while smsc.ask(cmd="bound")["sessions"] != who:
        assert time.monotonic() < deadline, f"bound: {smsc.ask(cmd='bound')}"
        time.sleep(0.05)


def raw_rate(smsc: TestSmsc) -> float:
    client = smpplib.client.Client("127.0.0.1", smsc.port, allow_unknown_opt_params=True, timeout=30)
    client.connect()
    client.bind_transceiver(system_id="raw", password="x")
    client.set_message_received_handler(lambda pdu: None)
    reader = threading.Thread(target=_listen, args=(client,), daemon=True)
    reader.start()
    wait_bound(smsc, ["raw"])
    result = smsc.ask(cmd="flood", n=MESSAGES, destination=OURS, text="raw")
    client.disconnect()
    assert result["ok"] == MESSAGES, result
    return result["per_s"]


def _listen(client) -> None:
    try:
        client.listen()
    except Exception:  # noqa: BLE001 - ends when the bench disconnects
        pass


def engine_rate(smsc: TestSmsc, url: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "channels").mkdir()
        (Path(tmp) / "channels" / "sms.toml").write_text(
            f'kind = "sms"\naddress = "{OURS}"\nregion = "CN"\n[smpp]\nport = {smsc.port}\nsystem_id = "cic"\n'
            'password = "secret"\n')
        config = Path(tmp) / "cic.toml"
        config.write_text(f'[database]\nurl = "{url}"\n[web]\nbind = "127.0.0.1:{free_port()}"\n')
        engine = subprocess.Popen([sys.executable, "-m", "cic_engine", "run", "--config", str(config)],
                                  stdout=subprocess.PIPE, stderr=open(os.environ.get("CIC_BENCH_LOG", os.devnull), "a"),
                                  text=True)
        try:
            while "ready" not in (engine.stdout.readline() or "ready"):
                pass
            wait_bound(smsc, ["cic"])
            result = smsc.ask(cmd="flood", n=MESSAGES, destination=OURS, text="engine")
            with psycopg.connect(url) as conn:
                stored = conn.execute("SELECT count(*) FROM messages WHERE channel = 'sms'").fetchone()[0]
            assert result["ok"] == MESSAGES and stored == MESSAGES, (result, stored)
        finally:
            engine.terminate()
            engine.wait(timeout=30)
    return result["per_s"]


def same_texts() -> list[InboundContact]:
    """What the adapter makes of the flood's deliver_sm (tests/smsc: 2,000 senders in turn)."""
    return [InboundContact(channel=Channel.sms, endpoint=OURS, external_id=f"smpp:sms:{i}", sender=f"+86138{i % 2000:08d}",
                           region="CN", recipient=OURS, parts=[ContentPart(body=f"engine {i}")],
                           continue_within_s=24 * 3600, metadata={"adapter": "sms", "parts": "1", "data_coding": "0"})
            for i in range(MESSAGES)]


def main() -> None:
    smsc = TestSmsc().start()
    try:
        raw = raw_rate(smsc)
        with bench_database() as url:
            taken = engine_rate(smsc, url)
    finally:
        smsc.stop()
    ceiling = ceiling_rate(same_texts())
    print(f"{MESSAGES} deliver_sm: raw smpplib {raw:.0f}/s, engine {taken:.0f}/s (each committed, its customer "
          "found or created, its interaction opened or continued, before the answer)")
    print(f"store ceiling (the same texts through Engine.ingest_many, 100 a transaction, two at once): {ceiling:.0f}/s")
    print(f"ceiling_ratio={taken / ceiling:.2f} ratio={taken / raw:.2f} sms_s={taken:.0f} raw_s={raw:.0f} "
          f"ceiling_s={ceiling:.0f}")


if __name__ == "__main__":
    main()
