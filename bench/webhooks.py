"""Webhook delivery: N message.received events (from N contacts ingested with a subscription in
place, so the timeline's trigger wrote them) delivered by the outbox to a real HTTP receiver
(tests/web/webhook_receiver.py, its own process, checking every signature), against the same
run's raw rate: the same signed bodies POSTed to the same receiver by a bare loop that keeps no
record. Both send one request at a time, as one subscription does.

Last line: ratio (outbox deliveries/s over raw POSTs/s), webhooks_per_s, raw_per_s, events.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE] + [str(HERE)]
sys.path.insert(0, str(HERE.parent))

from gevent import monkey  # noqa: E402

monkey.patch_all()

from _database import bench_database  # noqa: E402

from cic_engine.clock import SystemClock  # noqa: E402
from cic_engine.config import CicConfig  # noqa: E402
from cic_engine.engine import Engine  # noqa: E402
from cic_engine.models import Channel, ContentPart, InboundContact  # noqa: E402
from cic_engine.outbox import OutboxSender  # noqa: E402
from cic_engine.routing.events import EventListener  # noqa: E402
from cic_engine.signing import sign  # noqa: E402
from cic_engine.store import Store  # noqa: E402
from cic_engine.store import integrations as store_integrations  # noqa: E402
from cic_engine.webhooks import Webhooks  # noqa: E402
from tests.core.test_run import free_port  # noqa: E402

SMOKE = "--smoke" in sys.argv  # make bench-smoke: a tiny run, so that the benchmark cannot rot
ARGS = [a for a in sys.argv[1:] if a != "--smoke"]
EVENTS = 60 if SMOKE else int(ARGS[0]) if ARGS else 2000
SECRET = "bench-webhook-secret-0123456789"


def receiver(port: int, out: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "tests.web.webhook_receiver", str(port), SECRET, str(out)],
                            stdout=subprocess.PIPE, text=True, cwd=HERE.parent)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def raw_rate(url: str, bodies: list[bytes]) -> float:
    started = time.perf_counter()
    for n, body in enumerate(bodies):
        stamp = str(int(time.time()))
        request = urllib.request.Request(url, data=body, method="POST", headers={
            "Content-Type": "application/json", "X-CIC-Delivery": f"raw-{n}", "X-CIC-Timestamp": stamp,
            "X-CIC-Signature": sign(SECRET, stamp, body)})
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
    return len(bodies) / (time.perf_counter() - started)


def main() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/hooks"
    scratch = Path(tempfile.mkdtemp(prefix="cic-bench-webhooks-"))
    proc = receiver(port, scratch / "received.jsonl")
    try:
        with bench_database() as db_url:
            store = Store(db_url, 2, 8).open()
            engine = Engine(store, CicConfig.model_validate({"queues": [{"name": "general"}]}))
            engine.load_directory()
            with store.transaction() as conn:
                store_integrations.subscribe(conn, "bench", url, SECRET, ["message.received"], None,
                                             SystemClock().now())
            for n in range(EVENTS):
                engine.ingest(InboundContact(channel=Channel.sms, endpoint="+8610086", external_id=f"w-{n}",
                                             sender=f"+86139{n:08d}", parts=[ContentPart(body="您好 hello")]))
            with store.transaction() as conn:
                bodies = [r[0].encode() for r in conn.execute(
                    "SELECT payload ->> 'text' FROM outbox WHERE channel = 'webhook' ORDER BY id").fetchall()]
            assert len(bodies) == EVENTS, len(bodies)

            raw = raw_rate(url, bodies)
            events = EventListener(db_url)
            events.start()
            sender = OutboxSender(store, events, {}, backoff_s=1.0)
            sender.start()
            started = time.perf_counter()
            Webhooks(store, sender.add, sender.remove).load()
            while True:
                with store.transaction() as conn:
                    done = conn.execute("SELECT count(*) FROM outbox WHERE channel = 'webhook' AND state = 'sent'"
                                        ).fetchone()[0]
                if done >= EVENTS:
                    break
                time.sleep(0.02)
            ours = EVENTS / (time.perf_counter() - started)
            sender.stop()
            events.stop()
            store.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print(f"ratio={ours / raw:.3f} webhooks_per_s={ours:.0f} raw_per_s={raw:.0f} events={EVENTS}")


if __name__ == "__main__":
    main()
