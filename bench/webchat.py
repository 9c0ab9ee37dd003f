"""Web chat: N concurrent chat WebSockets (default 5,000) on one engine process.

1. Baseline: the same server stack (pywsgi, the WebSocket handler, wsproto) echoing an ack for
   each message and doing nothing else (bench/_wsecho.py), closed loop over N sockets.
2. The engine: N widgets start a chat each, then send messages closed loop (the next when the
   last is acknowledged, i.e. committed): messages/s, and ratio = that / the echo rate.
3. The engine again, open loop at a steady rate (CIC_BENCH_RATE, default 1,000 messages/s over
   all sockets) after a warm-up at that rate (CIC_BENCH_WARMUP, default 5 s, in which most of the
   new chats send their first message): p99 of the widget's send to its ack (the message
   committed), and of customer-to-agent delivery, from the send to the event reaching a
   supervisor's inbox socket.
4. The store's own ceiling (bench/_ceiling.py): as many chat messages as the closed loop
   committed, from as many chats, written straight through Engine.ingest_many, 100 to a
   transaction and two at once.

The load runs in a separate gevent process (bench/_wsload.py). Last line: ceiling_ratio (closed
loop / store ceiling; goal >= 0.5), ack_p99_ms (open loop; goal < 50 at 1,000/s over 5,000
sockets), sockets, p99_ms (delivery), ratio (closed loop / echo), msgs_s, echo_s, store_s.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import psycopg  # noqa: E402
from _ceiling import ceiling_rate  # noqa: E402
from _database import bench_database  # noqa: E402

from cic_engine.adapters.webchat import chat_contact  # noqa: E402
from cic_engine.config import CicConfig  # noqa: E402
from cic_engine.models import InboundContact  # noqa: E402
from cic_engine.store.chat import ChatSession  # noqa: E402
from cic_engine.web.auth import hash_password  # noqa: E402
from tests.core.test_run import free_port  # noqa: E402

SMOKE = "--smoke" in sys.argv  # make bench-smoke: a tiny run, so that the benchmark cannot rot
ARGS = [a for a in sys.argv[1:] if a != "--smoke"]
SOCKETS = 40 if SMOKE else int(os.environ.get("CIC_BENCH_SOCKETS", "5000"))
SECONDS = 2.0 if SMOKE else float(os.environ.get("CIC_BENCH_SECONDS", "10"))
WARMUP = 1.0 if SMOKE else float(os.environ.get("CIC_BENCH_WARMUP", "5"))
RATE = 40.0 if SMOKE else float(os.environ.get("CIC_BENCH_RATE", "1000"))
PASSWORD = "bench-password"


def load(url: str, origin: str, *extra: str) -> dict:
    out = subprocess.run([sys.executable, str(HERE / "_wsload.py"), url, "--origin", origin,
                          "--sockets", str(SOCKETS), *extra], capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise RuntimeError(f"load generator failed: {out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def echo_rate() -> dict:
    port = free_port()
    server = subprocess.Popen([sys.executable, str(HERE / "_wsecho.py"), str(port)], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline().strip() == "ready"
        return load(f"ws://127.0.0.1:{port}/", f"http://127.0.0.1:{port}", "--seconds", str(SECONDS))
    finally:
        server.terminate()
        server.wait(timeout=30)


def engine_runs(url: str) -> tuple[dict, dict]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "channels").mkdir()
        # Every bench customer comes from 127.0.0.1: the per-address limits would refuse them.
        (Path(tmp) / "channels" / "webchat.toml").write_text(
            'kind = "webchat"\nqueue = "chat"\n[limits]\nsockets_per_address = 100000\n'
            'chats_per_minute = 100000\nmessages_per_second = 1000\n')
        config = Path(tmp) / "cic.toml"
        config.write_text(
            f'[database]\nurl = "{url}"\npool_max = 20\n[web]\nbind = "127.0.0.1:{port}"\n'
            f'max_connections = {SOCKETS + 100}\n'  # a connection each, and the engine's default is 2,000
            '[engine]\ndefault_queue = "chat"\n[[queues]]\nname = "chat"\nchannels = ["chat"]\n'
            f'[[agents]]\nlogin = "sup"\nname = "Supervisor"\nroles = ["supervisor"]\nqueues = ["chat"]\n'
            f'password_hash = "{hash_password(PASSWORD)}"\n')
        log = open(os.environ.get("CIC_BENCH_LOG", os.devnull), "a")
        profile = ["-m", "cProfile", "-o", os.environ["CIC_BENCH_PROFILE"]] if os.environ.get("CIC_BENCH_PROFILE") else []
        engine = subprocess.Popen([sys.executable, *profile, "-m", "cic_engine", "run", "--config", str(config)],
                                  stdout=subprocess.PIPE, stderr=log, text=True)
        try:
            while "ready" not in (engine.stdout.readline() or "ready"):
                pass
            cookie = login(base)
            common = ["--chat", "--watch", f"ws://127.0.0.1:{port}/api/live", "--cookie", cookie]
            closed = load(f"ws://127.0.0.1:{port}/chat/webchat/socket", base, "--seconds", str(SECONDS), *common)
            opened = load(f"ws://127.0.0.1:{port}/chat/webchat/socket", base, "--seconds", str(SECONDS),
                          "--rate", str(RATE), "--warmup", str(WARMUP), *common)
            with psycopg.connect(url) as conn:
                stored = conn.execute("SELECT count(*) FROM messages WHERE channel = 'chat'").fetchone()[0]
            assert stored >= closed["acked"] + opened["acked"], f"{stored} stored, fewer than acknowledged"
        finally:
            engine.terminate()
            engine.wait(timeout=60)
    return closed, opened


def same_messages(count: int) -> list[InboundContact]:
    """What the adapter makes of `count` messages from the load's chats, in turn."""
    chats = [ChatSession(key=f"bench{n:05d}", adapter="webchat", name=f"Bench customer {n}", email=None, ended=False)
             for n in range(SOCKETS)]
    return [chat_contact("webchat", "chat", chats[i % SOCKETS], f"m{i % SOCKETS:05d}x{i:07d}",
                         f"message {i} from customer {i % SOCKETS}", []) for i in range(count)]


def login(base: str) -> str:
    import urllib.request

    request = urllib.request.Request(base + "/api/login", method="POST", headers={"Content-Type": "application/json"},
                                     data=json.dumps({"login": "sup", "password": PASSWORD}).encode())
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.headers["Set-Cookie"].split(";", 1)[0]


def main() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4 * SOCKETS + 1024)), hard))
    started = time.perf_counter()
    echo = echo_rate()
    with bench_database() as url:
        closed, opened = engine_runs(url)
    store = ceiling_rate(same_messages(max(closed["acked"], 100)), CicConfig.model_validate(
        {"engine": {"default_queue": "chat"}, "queues": [{"name": "chat", "channels": ["chat"]}]}))
    print(f"echo baseline ({echo['sockets']} sockets, closed loop): {echo['per_s']:.0f} messages/s, "
          f"ack p99 {echo['ack_p99_ms']} ms")
    print(f"engine closed loop ({closed['sockets']} chats): {closed['per_s']:.0f} messages/s committed, "
          f"ack p99 {closed['ack_p99_ms']} ms, delivery to the inbox p99 {closed['delivery_p99_ms']} ms")
    print(f"engine open loop at {RATE:.0f}/s after {WARMUP:g} s of warm-up: {opened['per_s']:.0f} messages/s, ack p50 {opened['ack_p50_ms']} ms "
          f"p99 {opened['ack_p99_ms']} ms, delivery p50 {opened['delivery_p50_ms']} ms "
          f"p99 {opened['delivery_p99_ms']} ms ({opened['delivered']} of {opened['acked']} seen by the inbox); "
          f"connecting {opened['sockets']} chats took {opened['connect_s']} s; bench {time.perf_counter() - started:.0f} s")
    print(f"store ceiling (as many chat messages through Engine.ingest_many, 100 a transaction, two at once): {store:.0f}/s")
    print(f"ceiling_ratio={closed['per_s'] / store:.2f} ack_p99_ms={opened['ack_p99_ms']} sockets={opened['sockets']} "
          f"p99_ms={opened['delivery_p99_ms']} ratio={closed['per_s'] / echo['per_s']:.2f} msgs_s={closed['per_s']:.0f} "
          f"echo_s={echo['per_s']:.0f} store_s={store:.0f}")


if __name__ == "__main__":
    main()
