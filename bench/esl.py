"""Voice hot paths.

1. ESL parsing: our sans-IO reader and event parser against greenswitch's own parser, on the
   same stream of events captured from a real FreeSWITCH (tests/fakeswitch/captures), in the same
   run. Both get the bytes from memory in socket-sized reads and decode every event's headers.
2. Calls: a real `cic-engine run` (embedded PostgreSQL, one voice adapter, 200 agents) takes
   2,000 calls from the simulator, at most 150 at a time (closed loop: a throughput test, so
   the latency includes the queueing of a saturated machine). Each call is answered,
   committed, queued, offered, bridged to the agent's phone (which answers at once), talks
   50 ms, and ends; wrap-up is 0. cps is calls completed per second; the latency is from the
   switch answering the call to the engine bridging it to the offered agent.
   CIC_BENCH_RATE=N offers N calls per second instead (open loop: latency at that load).
   CIC_BENCH_DETAIL=1 adds the CPU each process used and the ingest latency;
   CIC_BENCH_PROFILE=file profiles the engine; CIC_BENCH_STATEMENTS=1 prints PostgreSQL's
   statement statistics.
Last line: ratio (our events/s / greenswitch's; target >= 1.0), cps (target >= 300) and
p99_ms (answer to offer, target < 50).
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import io  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
from greenswitch.esl import ESLProtocol  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cic_engine.esl.protocol import FrameReader, parse_event  # noqa: E402

CAPTURES = Path(__file__).resolve().parents[1] / "tests" / "fakeswitch" / "captures"
TARGET_EVENTS = 2_000 if "--smoke" in sys.argv else 60_000
READ_SIZE = 65536
ROUNDS = 1 if "--smoke" in sys.argv else 5


def event_stream() -> tuple[bytes, int]:
    """The captured text/event-plain frames, as on the wire, repeated to TARGET_EVENTS."""
    frames = []
    for capture in sorted(CAPTURES.glob("*.esl")):
        data = capture.read_bytes()
        for frame in FrameReader().feed(data):
            if frame.content_type == "text/event-plain":
                frames.append(b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % len(frame.body) + frame.body)
    repeat = TARGET_EVENTS // len(frames) + 1
    return b"".join(frames) * repeat, len(frames) * repeat


def ours(stream: bytes) -> int:
    reader, count = FrameReader(), 0
    for start in range(0, len(stream), READ_SIZE):
        for frame in reader.feed(stream[start:start + READ_SIZE]):
            _ = parse_event(frame).headers  # every header decoded, as greenswitch does
            count += 1
    return count


class _Counting(ESLProtocol):
    def __init__(self, stream: bytes):
        super().__init__()
        self.sock_file = io.BufferedReader(io.BytesIO(stream), buffer_size=READ_SIZE)
        self.sock = io.BytesIO()
        self.count = 0
        self._esl_event_queue = self  # handle_event puts parsed events here

    def put(self, event) -> None:
        self.count += 1


def greenswitch(stream: bytes) -> int:
    protocol = _Counting(stream)
    protocol.receive_events()
    return protocol.count


def rate(parse, stream: bytes, expected: int) -> float:
    best = 0.0
    for _ in range(ROUNDS):
        started = time.perf_counter()
        count = parse(stream)
        elapsed = time.perf_counter() - started
        assert count == expected, f"{parse.__name__} parsed {count} of {expected} events"
        best = max(best, count / elapsed)
    return best


SMOKE = "--smoke" in sys.argv  # make bench-smoke: a tiny run, so that the benchmark cannot rot
ARGS = [a for a in sys.argv[1:] if a != "--smoke"]
CALLS = 40 if SMOKE else int(ARGS[0]) if ARGS else 2000
IN_FLIGHT = 10 if SMOKE else int(ARGS[1]) if len(ARGS) > 1 else 150
RATE = float(os.environ.get("CIC_BENCH_RATE", "0"))  # calls offered per second; 0: as fast as IN_FLIGHT allows
AGENTS = 200


def _cpu_seconds(engine_pid: int) -> dict[str, float]:
    """CPU used so far by the engine, this process (the simulator) and PostgreSQL's processes."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {"engine": 0.0, "simulator": 0.0, "postgres": 0.0}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)
            comm = fields[0].split("(", 1)[1]
            rest = fields[1].split()
        except (OSError, IndexError):
            continue
        pid, used = int(stat.parent.name), (int(rest[11]) + int(rest[12])) / tick
        if pid == engine_pid:
            out["engine"] += used
        elif pid == os.getpid():
            out["simulator"] += used
        elif comm.startswith("postgres"):
            out["postgres"] += used
    return out


def calls_benchmark() -> tuple[float, float, float]:
    import subprocess
    import tempfile

    import psycopg
    from _database import bench_database
    from gevent.lock import BoundedSemaphore

    from tests.core.test_run import free_port
    from tests.fakeswitch.switch import FakeSwitch

    switch = FakeSwitch().start()
    switch.ring_s, switch.talk_s = 0.0, 0.05
    with bench_database() as url, tempfile.TemporaryDirectory() as tmp:
        outbound = free_port()
        config = Path(tmp) / "cic.toml"
        (Path(tmp) / "channels").mkdir()
        agents = "".join(f'[[agents]]\nlogin = "a{i:03d}"\nname = "Agent {i}"\nqueues = ["general"]\n'
                         for i in range(AGENTS))
        config.write_text(f'[database]\nurl = "{url}"\npool_max = {os.environ.get("CIC_BENCH_POOL", "10")}\n[web]\nbind = "127.0.0.1:{free_port()}"\n'
                          '[[queues]]\nname = "general"\nwrap_up_s = 0\noffer_timeout_s = 60\n' + agents)
        (Path(tmp) / "channels" / "pbx.toml").write_text(
            f'kind = "voice"\noutbound_bind = "127.0.0.1:{outbound}"\nesl_port = {switch.port}\nring_s = 5\n')
        profile = ["-m", "cProfile", "-o", os.environ["CIC_BENCH_PROFILE"]] if os.environ.get("CIC_BENCH_PROFILE") else []
        engine = subprocess.Popen([sys.executable, *profile, "-m", "cic_engine", "run", "--config", str(config)],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            while "ready" not in (engine.stdout.readline() or "ready"):
                pass
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("UPDATE agents SET presence = 'available', updated_at = now()")
                conn.execute("NOTIFY cic_queue, 'bench: agents logged in'")
            slots = BoundedSemaphore(IN_FLIGHT)
            calls = []

            def one(n: int) -> None:
                with slots:
                    call = switch.call(("127.0.0.1", outbound), f"+86139{n:08d}")
                    calls.append(call)
                    call.wait(timeout=60)

            started, cpu = time.perf_counter(), _cpu_seconds(engine.pid)
            workers = []
            for n in range(CALLS):
                if RATE:  # open loop: a new call every 1/RATE s, whatever the engine's backlog
                    gevent.sleep(max(0.0, started + n / RATE - time.perf_counter()))
                workers.append(gevent.spawn(one, n))
            gevent.joinall(workers, raise_error=True)
            elapsed = time.perf_counter() - started
            if os.environ.get("CIC_BENCH_DETAIL"):
                used = {k: v - cpu[k] for k, v in _cpu_seconds(engine.pid).items()}
                print("CPU seconds during the calls: " + ", ".join(f"{k} {v:.1f}" for k, v in used.items()))
        finally:
            engine.terminate()
            engine.wait(timeout=30)
            switch.stop()
    bridged = [c for c in calls if "bridge" in c.started]
    if len(bridged) != CALLS:
        raise SystemExit(f"only {len(bridged)} of {CALLS} calls reached an agent")
    waits = sorted((c.started["bridge"] - c.started["answer"]) * 1000 for c in bridged)
    if os.environ.get("CIC_BENCH_DETAIL"):
        ingest = sorted((c.started["playback"] - c.started["answer"]) * 1000 for c in bridged)
        print(f"answer to music (ingest) p50 {ingest[len(ingest) // 2]:.1f} ms p99 {ingest[int(len(ingest) * .99)]:.1f}")
    return CALLS / elapsed, waits[len(waits) // 2], waits[int(len(waits) * 0.99) - 1]


def main() -> None:
    stream, expected = event_stream()
    ours_rate = rate(ours, stream, expected)
    theirs_rate = rate(greenswitch, stream, expected)
    print(f"{expected} captured events, {len(stream) / 1e6:.1f} MB; best of {ROUNDS} rounds each: "
          f"ours {ours_rate:.0f}/s, greenswitch {theirs_rate:.0f}/s")
    cps, p50, p99 = calls_benchmark()
    print(f"{CALLS} calls, {IN_FLIGHT} at a time, {AGENTS} agents: {cps:.0f} calls/s, answer to offer "
          f"p50 {p50:.1f} ms p99 {p99:.1f} ms")
    print(f"ratio={ours_rate / theirs_rate:.2f} cps={cps:.0f} p99_ms={p99:.1f} p50_ms={p50:.1f}")


if __name__ == "__main__":
    main()
