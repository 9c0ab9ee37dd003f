"""The dialer: call attempts per second a real engine sustains through the ESL simulator with
200 agents on a predictive campaign (every attempt claimed in PostgreSQL, checked against the
contact rules, dialled with bgapi originate, answered calls routed and bridged to an agent's
phone, every outcome written), against the same run's baseline: 200 bare loops on one event
socket, each dialling the same numbers one call at a time with no database, no rules and no
routing (what a progressive dialer with nothing to check would do on this switch).

Also the pacing decision's cost at 200 free agents, against one database round trip (SELECT 1),
which every dialer pass makes many of.

Last line: ratio (engine attempts/s / baseline attempts/s), attempts_s, baseline_s,
decision_us, decision_ratio (decision / round trip), abandon_rate, peak_in_flight.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The repository first (cic_engine, tests), this folder last (its _helpers).
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE] + [str(HERE)]
sys.path.insert(0, str(HERE.parent))

from gevent import monkey  # noqa: E402

monkey.patch_all()

import random  # noqa: E402
import tempfile  # noqa: E402
import textwrap  # noqa: E402
import time  # noqa: E402

import gevent  # noqa: E402
import psycopg  # noqa: E402
from _database import bench_database  # noqa: E402
from gevent.event import Event  # noqa: E402

from cic_engine.config import CicConfig  # noqa: E402
from cic_engine.esl.connection import Endpoint, InboundConnection  # noqa: E402
from cic_engine.esl.outbound import CallGone, OutboundServer  # noqa: E402
from cic_engine.outbound.pacing import Pacer  # noqa: E402
from cic_engine.routing.router import Router  # noqa: E402
from cic_engine.routing.service import Routing  # noqa: E402
from cic_engine.store import Store  # noqa: E402
from tests.core.test_run import engine_toml, free_port, start, stop  # noqa: E402
from tests.fakeswitch.switch import FakeSwitch  # noqa: E402

AGENTS = 200
SMOKE = "--smoke" in sys.argv  # make bench-smoke: a tiny run, so that the benchmark cannot rot
ARGS = [a for a in sys.argv[1:] if a != "--smoke"]
SECONDS = 2.0 if SMOKE else float(ARGS[0]) if ARGS else 15.0
CONTACTS = 6000
RING_S, TALK_S = 0.3, 3.0


def numbers() -> list[str]:
    return [f"+8613{k:09d}" for k in range(1, CONTACTS + 1)]


def phones(switch: FakeSwitch) -> None:
    chance = random.Random(11)
    for number in numbers():  # about 35 % answer
        switch.phones[number] = chance.choices(["answer", "no-answer", "busy"], [35, 50, 15])[0]
    switch.ring_s, switch.talk_s = RING_S, TALK_S


def baseline(switch: FakeSwitch) -> float:
    """200 loops, each: originate the next number into a socket that holds an answered call
    TALK_S; attempts finished per second."""
    ended: dict[str, Event] = {}

    def hold(call) -> None:
        try:
            gevent.sleep(TALK_S)
            call.hangup()
        except CallGone:
            pass
        ended.setdefault(call.uuid, Event()).set()

    server = OutboundServer(("127.0.0.1", 0), hold, 5)
    server.start()
    esl = InboundConnection(Endpoint("127.0.0.1", switch.port, "ClueCon", events=("BACKGROUND_JOB",),
                                     command_timeout_s=10), name="baseline")
    esl.start()
    assert esl.connected.wait(10)
    todo = iter(numbers())
    done = [0]
    deadline = time.monotonic() + SECONDS

    def loop() -> None:
        for number in todo:
            if time.monotonic() > deadline:
                return
            leg = f"bench-{number}"
            job = esl.bgapi(f"originate {{origination_uuid={leg}}}sofia/gateway/pstn/{number} "
                            f"'socket:127.0.0.1:{server.port} async full' inline", leg)
            if str(job.get(timeout=30)).startswith("+OK"):
                ended.setdefault(leg, Event()).wait(TALK_S + 10)
            done[0] += 1

    started = time.monotonic()
    gevent.joinall([gevent.spawn(loop) for _ in range(AGENTS)])
    elapsed = time.monotonic() - started
    esl.stop()
    server.stop(timeout=1)
    return done[0] / elapsed


def engine_rate(switch: FakeSwitch, url: str, work: Path) -> tuple[float, float, int]:
    (work / "channels").mkdir()
    (work / "contacts.csv").write_text("phone\n" + "\n".join(numbers()) + "\n")
    outbound = free_port()
    (work / "channels" / "pbx.toml").write_text(
        f'kind = "voice"\noutbound_bind = "127.0.0.1:{outbound}"\nesl_port = {switch.port}\nring_s = 5\n')
    agents = "".join(f'[[agents]]\nlogin = "a{n}"\nname = "Agent {n}"\nqueues = ["sales"]\n' for n in range(AGENTS))
    head = engine_toml("bench-node", url).replace(f'url = "{url}"\n', f'url = "{url}"\npool_max = 40\n')
    (work / "cic.toml").write_text(head + textwrap.dedent("""\
        [outbound]
        quiet_start = "00:00"
        quiet_end = "00:00"
        tick_s = 0.1
        max_per_week = 100
        [[queues]]
        name = "general"
        [[queues]]
        name = "sales"
        channels = ["voice"]
        wrap_up_s = 0
        [[campaigns]]
        name = "bench"
        channel = "voice"
        mode = "predictive"
        queue = "sales"
        max_attempts = 1
        contacts_csv = "contacts.csv"
        hours = { start = "00:00", end = "00:00", days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] }
        """) + agents)
    proc = start(work / "cic.toml", log=work / "engine.log")
    try:
        store = Store(url, 1, 4).open()
        routing = Routing(Router(store, CicConfig.model_validate({"queues": [{"name": "general"}]})))
        ids = [routing.agent_id(f"a{n}") for n in range(AGENTS)]
        for agent_id in ids:
            routing.set_available(agent_id)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("UPDATE campaigns SET state = 'running'")  # config campaigns start paused
            began = conn.execute("SELECT now()").fetchone()[0]
            gevent.sleep(SECONDS)
            attempts, abandoned, answered = conn.execute(
                """SELECT count(*), count(*) FILTER (WHERE outcome = 'abandoned'),
                          count(*) FILTER (WHERE outcome IN ('connected', 'abandoned'))
                   FROM campaign_attempts WHERE outcome IS NOT NULL AND ended_at <= %s + make_interval(secs => %s)""",
                (began, SECONDS)).fetchone()
            spans = conn.execute("SELECT started_at, coalesce(ended_at, now()) FROM campaign_attempts").fetchall()
        store.close()
    finally:
        stop(proc)
    edges = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    peak = level = 0
    for _, step in edges:
        level += step
        peak = max(peak, level)
    return attempts / SECONDS, (abandoned / answered if answered else 0.0), peak


def decision_cost(url: str) -> tuple[float, float]:
    pacer = Pacer()
    for n in range(300):
        pacer.record(n % 3 == 0, abandoned=n % 97 == 0)
    rounds = 2000
    began = time.perf_counter()
    for n in range(rounds):
        pacer.calls_to_place(AGENTS, n % 300, n % 7)
    decision = (time.perf_counter() - began) / rounds
    with psycopg.connect(url, autocommit=True) as conn:
        began = time.perf_counter()
        for _ in range(rounds):
            conn.execute("SELECT 1").fetchone()
        trip = (time.perf_counter() - began) / rounds
    return decision, trip


def main() -> None:
    with bench_database() as url, tempfile.TemporaryDirectory(prefix="cic-dialer-") as tmp:
        switch = FakeSwitch().start()
        phones(switch)
        base = baseline(switch)
        rate, abandon, peak = engine_rate(switch, url, Path(tmp))
        switch.stop()
        decision, trip = decision_cost(url)
    print(f"engine: {rate:.1f} attempts/s with {AGENTS} agents (abandoned {abandon:.1%} of answered, "
          f"peak {peak} calls under way); baseline: {base:.1f} attempts/s; pacing decision "
          f"{decision * 1e6:.0f} us, a database round trip {trip * 1e6:.0f} us")
    print(f"ratio={rate / base:.3f} attempts_s={rate:.1f} baseline_s={base:.1f} decision_us={decision * 1e6:.0f} "
          f"decision_ratio={decision / trip:.2f} abandon_rate={abandon:.4f} peak_in_flight={peak}")


if __name__ == "__main__":
    main()
