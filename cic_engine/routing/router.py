"""The router: routing passes over the shared queue, woken by NOTIFY and by its own timers.

A pass, under a cluster-wide advisory lock so that passes of several nodes take turns (row
locks still guard every change against agents' and supervisors' own actions):
  1. prepare new arrivals: open hours and the after-hours action, the ordering key, the
     overflow timer, the sticky agent;
  2. fire due timers: offers not answered (requeue at the same place, agent passed over for
     reoffer_after_s, missed offers counted), exclusions ended, wrap-ups ended, agents whose
     inbox is gone set away, overflow steps;
  3. match the free agents to the waiting interactions in order and offer, one per agent.
Passes repeat while they make offers. Between passes the router sleeps until a NOTIFY on
cic_queue (new interaction, agent freed, requeue) or its next timer, at most `tick_s`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import gevent
import psycopg
from psycopg.errors import DeadlockDetected, SerializationFailure

from ..clock import Clock, SystemClock
from ..config import CicConfig
from ..store import Store
from ..store import agents as store_agents
from ..store import offers as store_offers
from ..store import routing as store_routing
from ..store.interactions import QUEUE_NOTIFY_CHANNEL
from . import arrival, overflow
from .line import WaitingLine
from .matcher import Matcher, offer_expiry, queue_cap
from .queues import QueueDirectory

log = logging.getLogger(__name__)
PAGE = 500  # arrivals prepared per pass
MIN_PAGE, MAX_PAGE = 32, 4000  # waiting interactions read at once
MAX_SCANNED_PER_PASS = 20_000
MAX_PASSES_PER_ROUND = 200
MIN_SLEEP_S = 0.02


@dataclass
class PassResult:
    prepared: int = 0
    timers: int = 0
    offered: int = 0
    conflicts: int = 0  # matches a concurrent change made impossible; the next pass retries

    @property
    def progress(self) -> bool:
        return self.offered > 0 or self.conflicts > 0


class Router:
    def __init__(self, store: Store, cic: CicConfig, clock: Clock | None = None):
        self.store = store
        self.cic = cic
        self.clock = clock or SystemClock()
        self.queues = QueueDirectory()
        self._greenlet: gevent.Greenlet | None = None
        self._stopping = False
        self.passes = 0

    def load_queues(self) -> None:
        self.queues = QueueDirectory.load(self.store, self.cic)

    # One pass -----------------------------------------------------------------------------

    def route(self) -> PassResult:
        """Passes until one makes no progress; the total of what they did."""
        total = PassResult()
        for _ in range(MAX_PASSES_PER_ROUND):
            result = self.run_pass()
            total.prepared += result.prepared
            total.timers += result.timers
            total.offered += result.offered
            total.conflicts += result.conflicts
            if not result.progress and not result.prepared:
                break
        return total

    def run_pass(self) -> PassResult:
        if not self.queues.by_id:
            self.load_queues()
        result = PassResult()
        with self.store.connection() as conn, store_routing.pass_lock(conn):
            now = self.clock.now()
            result.prepared = self._prepare(conn, now)
            result.timers = self._fire_timers(conn, now)
            result.offered, result.conflicts = self._offer(conn, now)
        self.passes += 1
        return result

    def _prepare(self, conn, now: datetime) -> int:
        with conn.transaction():
            arrivals = store_routing.arrivals(conn, PAGE)
            if not arrivals:
                return 0
            windows = [q.sticky.window_s for q in self.queues.by_id.values() if q.sticky.window_s > 0]
            last = (
                store_routing.last_agents(conn, [a.customer_id for a in arrivals], now - timedelta(seconds=max(windows)))
                if windows else {}
            )
            preps = [arrival.prepare(a, last.get(a.customer_id), self.queues, self.cic.routing, now)
                     for a in arrivals]
            store_routing.write_preparations(conn, preps, now)
        return len(arrivals)

    def _fire_timers(self, conn, now: datetime) -> int:
        fired = 0
        with conn.transaction():
            expired = store_routing.expired_offers(conn, now)
            wrap_ups = store_routing.expired_wrap_ups(conn, now)
            fired += store_routing.end_exclusions(conn, now)
        for interaction_id, agent_ids in expired:
            fired += self._each(conn, self._time_out, conn, interaction_id, agent_ids, now)
        for interaction_id in wrap_ups:
            fired += self._each(conn, store_offers.close_wrap_up, conn, interaction_id, None, now, None, None)
        with conn.transaction():
            gone = store_agents.gone(conn, now)
        for agent_id in gone:
            fired += self._each(conn, self._disconnected, conn, agent_id, now)
        with conn.transaction():
            for item in store_routing.overflow_due(conn, now):
                overflow.apply_next_step(conn, self.queues, self.cic.routing, item, now)
                fired += 1
        return fired

    @staticmethod
    def _each(conn, work, *args) -> int:
        """One timer in its own transaction. Losing a deadlock to an agent's own action is not an
        error: the winner changed the row, and the next pass looks again."""
        try:
            with conn.transaction():
                return 1 if work(*args) else 0
        except (DeadlockDetected, SerializationFailure) as exc:
            log.info("timer deferred to the next pass: %s", type(exc).__name__)
            return 0

    def _time_out(self, conn, interaction_id: int, agent_ids: list[int], now: datetime) -> bool:
        fired = False
        for agent_id in agent_ids:
            presence = store_offers.release(
                conn, interaction_id, agent_id, now, kind="offer_timeout", exclude=True, missed=True,
                max_missed=self.cic.routing.max_missed_offers, reason="no answer", expired_by=now,
                reoffer_after_s=self.cic.routing.reoffer_after_s,
            )
            fired = fired or presence is not None
            if presence == "away":
                # Set away for missing offers: the others it holds go back at once, not at their timeout.
                for other in store_agents.offers_held(conn, agent_id):
                    store_offers.release(conn, other, agent_id, now, kind="offer_withdrawn", exclude=False,
                                         reason="agent away: missed offers")
        return fired

    def _disconnected(self, conn, agent_id: int, now: datetime) -> bool:
        """The agent's inbox has been gone past its grace (a closed lid, a lost network): away,
        so that nothing more is offered to nobody; the offers they hold go back at once."""
        agent = store_agents.status(conn, agent_id, lock=True)
        if agent is None or agent.presence != "available" or not store_agents.gone(conn, now, agent_id):
            return False
        for interaction_id in store_agents.offers_held(conn, agent_id):
            store_offers.release(conn, interaction_id, agent_id, now, kind="offer_withdrawn", exclude=False,
                                 reason="agent disconnected")
        store_agents.set_presence(conn, agent_id, "away", "disconnected", now)
        return True

    def _offer(self, conn, now: datetime) -> tuple[int, int]:
        free = store_agents.free_agents(conn)
        if not free:
            return 0, 0
        matcher = Matcher(free, self.queues.by_id, now)
        streams = sorted({(q, c.value) for a in free for q in a.queue_ids if q in self.queues.by_id
                          for c in self.queues.by_id[q].channels})
        opened = any(s.action == "add-queue" for q in self.queues.by_id.values() for s in q.overflow)
        extra = sorted({q for a in free for q in a.queue_ids}) if opened else []
        line = WaitingLine(conn, streams, extra, matcher.serves,
                           first_limit=max(MIN_PAGE, 2 * len(free)), max_limit=MAX_PAGE, max_rows=MAX_SCANNED_PER_PASS)
        pairs: list[store_offers.OfferPair] = []
        for m in matcher.feed(line):
            queue = self.queues.by_id[m.queue_id]
            expires = offer_expiry(now, queue.offer_timeout_s or self.cic.routing.offer_timeout_s)
            for agent_id in m.agent_ids:
                agent = matcher.agent(agent_id)
                pairs.append(store_offers.OfferPair(
                    interaction_id=m.interaction_id, agent_id=agent_id, cap=queue_cap(queue, agent, m.channel),
                    exclusive=agent.voice_exclusive, queue_id=m.queue_id, expires_at=expires,
                ))
        made = store_offers.offer(conn, pairs, now)
        return len(made), len(pairs) - len(made)

    # The loop -----------------------------------------------------------------------------

    def start(self) -> None:
        self.load_queues()
        self._stopping = False
        self._greenlet = gevent.spawn(self._run)

    @property
    def running(self) -> bool:
        return self._greenlet is not None and not self._greenlet.dead

    def stop(self, timeout: float = 5.0) -> None:
        # The loop notices within tick_s; killing it mid-query would leave a connection busy.
        self._stopping = True
        if self._greenlet is not None:
            self._greenlet.join(timeout)
            self._greenlet.kill(timeout=1)
            self._greenlet = None

    def _sleep_s(self) -> float:
        now = self.clock.now()
        with self.store.transaction() as conn:
            deadline = store_routing.next_deadline(conn, now)
        tick = self.cic.routing.tick_s
        if deadline is None:
            return tick
        # A floor: a timer that keeps failing to fire must not turn this into a busy loop.
        return max(MIN_SLEEP_S, min(tick, (deadline - now).total_seconds()))

    def _run(self) -> None:
        backoff = 0.5
        while not self._stopping:
            try:
                with psycopg.connect(self.store.url, autocommit=True, application_name="cic-router-listen") as listen:
                    listen.execute(f"LISTEN {QUEUE_NOTIFY_CHANNEL}")
                    while not self._stopping:
                        self.route()
                        backoff = 0.5
                        # Any notification is a reason for a pass; several are one pass.
                        for _ in listen.notifies(timeout=self._sleep_s(), stop_after=1):
                            pass
                        for _ in listen.notifies(timeout=0.001):
                            pass
            except (psycopg.Error, OSError) as exc:
                log.warning("router: database unavailable (%s); retrying in %.1fs", exc, backoff)
                gevent.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
            except Exception:
                log.exception("router pass failed; retrying in %.1fs", backoff)
                gevent.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

