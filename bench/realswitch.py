"""Calls through a real FreeSWITCH: how long a caller waits from entering the queue to an agent's
answer, with free agents whose phones answer at once, for the engine and for FreeSWITCH's own
mod_callcenter on the same switch, the same phones and the same load (loopback callers placed
at 10, 30 and 60 calls/s, each hanging up TALK_S after it is connected).

Both are timed by the switch's own event clock, on the caller's channel: from the application
that queues it (`socket`, the engine's dialplan; `callcenter`, mod_callcenter's) to its
CHANNEL_BRIDGE with the agent's answered phone. The engine's time includes everything it does
first: answer, the customer's profile, the commit, routing, the offer and the ring.

Last line: ratio (engine p99 / mod_callcenter p99 at 30 calls/s; the goal is <= 1.0), p99_10,
p99_30, p99_60 (the engine's, ms), cc_p99_30, and the p50s. `--smoke`: a few calls at one rate,
so that the benchmark runs in `make test` and cannot rot.
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

import os  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import textwrap  # noqa: E402
import time  # noqa: E402
import uuid as uuidlib  # noqa: E402

import gevent  # noqa: E402
from _database import bench_database  # noqa: E402

from cic_engine.config import CicConfig  # noqa: E402
from cic_engine.esl.connection import Endpoint, InboundConnection  # noqa: E402
from cic_engine.routing.router import Router  # noqa: E402
from cic_engine.routing.service import Routing  # noqa: E402
from cic_engine.store import Store  # noqa: E402
from tests.core.test_run import engine_toml, start, stop  # noqa: E402
from tests.realswitch.conftest import DID, voice_channel  # noqa: E402
from tests.realswitch.freeswitch import ESL_PASSWORD, MOH, RealSwitch, unavailable_reason  # noqa: E402

SMOKE = "--smoke" in sys.argv
RATES = (5,) if SMOKE else (10, 30, 60)
SECONDS = 1.0 if SMOKE else 8.0
AGENTS = 4 if SMOKE else 40
TALK_S = 0.3

CALLCENTER_CONF = f"""<configuration name="callcenter.conf" description="CallCenter">
  <settings/>
  <queues>
    <queue name="bench">
      <param name="strategy" value="longest-idle-agent"/>
      <param name="moh-sound" value="{MOH}"/>
      <param name="time-base-score" value="system"/>
      <param name="tier-rules-apply" value="false"/>
      <param name="discard-abandoned-after" value="60"/>
      <param name="abandoned-resume-allowed" value="false"/>
    </queue>
  </queues>
</configuration>
"""
# mod_callcenter takes a loopback agent's contact for a forwarding leg and wants its b-leg
# bridged to the real phone (mod_callcenter.c, "Our agent channel is a loopback"); both sides
# therefore dial every agent through the same forwarding hop to the same answering phone.
PHONE = "loopback/fwd_{login}/bench_phones/XML"
CALLCENTER_DIALPLAN = """<include>
  <context name="bench_phones">
    <extension name="forward">
      <condition field="destination_number" expression="^fwd_(.+)$">
        <action application="bridge" data="loopback/agent_$1/public"/>
      </condition>
    </extension>
  </context>
  <context name="cc_bench">
    <extension name="queue">
      <condition field="destination_number" expression="^ccbench$">
        <action application="answer"/>
        <action application="callcenter" data="bench"/>
      </condition>
    </extension>
  </context>
</include>
"""


class Timer:
    """Queue entry and agent connection of every caller of one run, from the switch's events."""

    def __init__(self, fs: RealSwitch, enter_app: str, run: str):
        self.enter_app, self.run = enter_app, run
        self.entered: dict[str, int] = {}  # caller channel -> microseconds
        self.waits_ms: list[float] = []
        self.legs: dict[str, str] = {}  # caller channel -> our (originating) leg, to hang up
        self.esl = InboundConnection(Endpoint("127.0.0.1", fs.esl_port, ESL_PASSWORD,
                                              events=("CHANNEL_EXECUTE", "CHANNEL_BRIDGE")), name="bench timer")
        self.esl.on_event.append(self._event)
        self.esl.start()
        assert self.esl.connected.wait(10)

    def _event(self, event) -> None:
        at = int(event.get("Event-Date-Timestamp") or 0)
        if (event.name == "CHANNEL_EXECUTE" and event.get("Application") == self.enter_app
                and event.get("variable_bench_run") == self.run and event.uuid not in self.entered):
            self.entered[event.uuid] = at
            self.legs[event.uuid] = event.get("variable_other_loopback_leg_uuid") or ""
        elif event.name == "CHANNEL_BRIDGE":
            for uuid in {event.uuid, event.get("Other-Leg-Unique-ID") or "", event.get("Bridge-A-Unique-ID") or "",
                         event.get("Bridge-B-Unique-ID") or ""}:
                began = self.entered.pop(uuid, None)
                if began is not None:
                    self.waits_ms.append((at - began) / 1000)
                    gevent.spawn_later(TALK_S, self._hang_up, self.legs.pop(uuid, ""))

    def _hang_up(self, leg: str) -> None:
        if leg and self.esl.connected.is_set():
            try:
                self.esl.api(f"uuid_kill {leg} NORMAL_CLEARING")
            except Exception:  # noqa: S110 - the run is over; hangup_all clears what is left
                pass

    def stop(self) -> None:
        self.esl.stop()


def measure(fs: RealSwitch, rate: int, destination: str, context: str, enter_app: str) -> tuple[float, float]:
    """(p50, p99) in ms of queue entry -> agent connected, callers placed at `rate` per second."""
    run = uuidlib.uuid4().hex[:8]
    timer = Timer(fs, enter_app, run)
    total = max(1, int(rate * SECONDS))
    began = time.monotonic()
    for n in range(total):
        gevent.sleep(max(0.0, began + n / rate - time.monotonic()))
        timer.esl.bgapi(f"originate {{bench_run={run},origination_caller_id_number=+86138{n:08d}}}"
                        f"loopback/{destination}/{context} &park()", str(uuidlib.uuid4()))
    deadline = time.monotonic() + 60
    while len(timer.waits_ms) < total and time.monotonic() < deadline:
        gevent.sleep(0.1)
    done = sorted(timer.waits_ms)
    gevent.sleep(TALK_S + 0.5)  # the last callers talk and hang up
    timer.stop()
    fs.hangup_all()  # those that never reached an agent
    gevent.sleep(2)
    if len(done) < total:
        print(f"  {enter_app} at {rate}/s: only {len(done)} of {total} callers reached an agent", flush=True)
    if not done:
        return float("nan"), float("nan")
    return statistics.median(done), done[min(len(done) - 1, int(len(done) * 0.99))]


def engine_config(tmp: Path, url: str, fs: RealSwitch) -> Path:
    agents = "".join(f'[[agents]]\nlogin = "a{n}"\nname = "Agent {n}"\nqueues = ["general"]\n'
                     for n in range(1, AGENTS + 1))
    (tmp / "cic.toml").write_text(engine_toml("bench-node", url) + textwrap.dedent("""\
        [[queues]]
        name = "general"
        wrap_up_s = 0
        offer_timeout_s = 30
        """) + agents)
    (tmp / "channels").mkdir(exist_ok=True)
    (tmp / "channels" / "pbx.toml").write_text(voice_channel(fs, extra=f'ring_s = 10\nagent_endpoint = "{PHONE}"\n'))
    return tmp / "cic.toml"


def run_engine(fs: RealSwitch, tmp: Path) -> dict[int, tuple[float, float]]:
    with bench_database() as url:
        proc = start(engine_config(tmp, url, fs), log=tmp / "engine.log")
        store = Store(url, min_size=1, max_size=2).open()
        try:
            cic = CicConfig.model_validate({"queues": [{"name": "general"}], "agents": [
                {"login": f"a{n}", "name": f"Agent {n}", "queues": ["general"]} for n in range(1, AGENTS + 1)]})
            routing = Routing(Router(store, cic))
            for n in range(1, AGENTS + 1):
                routing.set_available(routing.agent_id(f"a{n}"))
            gevent.sleep(1)
            results = {rate: measure(fs, rate, DID, "public", "socket") for rate in RATES}
            if "BENCH_DEBUG" in os.environ:
                with store.connection() as conn:
                    print(conn.execute("SELECT presence, state, count(*) FROM agents GROUP BY 1, 2").fetchall())
                    print(conn.execute("SELECT state, count(*) FROM interactions GROUP BY 1").fetchall())
            return results
        finally:
            store.close()
            stop(proc)


def run_callcenter(fs: RealSwitch) -> dict[int, tuple[float, float]]:
    for n in range(1, AGENTS + 1):
        for cmd in (f"agent add cc{n} Callback", f"agent set contact cc{n} {PHONE.format(login=f'cc{n}')}",
                    f"agent set wrap_up_time cc{n} 0", f"agent set max_no_answer cc{n} 0",
                    f"agent set status cc{n} Available", f"tier add bench cc{n} 1 1"):
            out = fs.api(f"callcenter_config {cmd}")
            assert out.startswith("+OK"), f"callcenter_config {cmd}: {out}"
    gevent.sleep(1)
    return {rate: measure(fs, rate, "ccbench", "cc_bench", "callcenter") for rate in RATES}


def main() -> None:
    reason = unavailable_reason()
    if reason:
        print(f"skipped: {reason}")
        print("ratio=nan")
        return
    tmp = Path(tempfile.mkdtemp(prefix="cic-bench-fs-"))
    fs = RealSwitch(tmp / "fs").configure()
    (fs.conf / "autoload_configs" / "callcenter.conf.xml").write_text(CALLCENTER_CONF)
    (fs.conf / "dialplan" / "cc_bench.xml").write_text(CALLCENTER_DIALPLAN)
    fs.start()
    try:
        fs.api("global_setvar cic_phone_delay=0")  # agents answer at once
        engine = run_engine(fs, tmp)
        callcenter = run_callcenter(fs)
    finally:
        fs.stop()
    for rate in RATES:
        (p50, p99), (cc50, cc99) = engine[rate], callcenter[rate]
        print(f"{rate:>3} calls/s: engine p50 {p50:7.1f} ms p99 {p99:7.1f} ms | "
              f"mod_callcenter p50 {cc50:7.1f} ms p99 {cc99:7.1f} ms", flush=True)
    at = 30 if 30 in RATES else RATES[0]
    figures = {"ratio": engine[at][1] / callcenter[at][1]}
    for rate in RATES:
        figures[f"p99_{rate}"] = engine[rate][1]
    figures[f"cc_p99_{at}"] = callcenter[at][1]
    for rate in RATES:
        figures[f"p50_{rate}"] = engine[rate][0]
    figures[f"cc_p50_{at}"] = callcenter[at][0]
    print(" ".join(f"{k}={v:.3f}" if k == "ratio" else f"{k}={v:.1f}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
