"""What agents and supervisors do to the queue: presence, accept / reject an offer, end work and
wrap up, move / assign / re-prioritise an interaction. The inbox calls these.

Each call is one transaction; a deadlock or serialization failure (two multi-row changes
crossing) is retried a few times, since the other transaction has then finished its change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from psycopg.errors import DeadlockDetected, SerializationFailure

from ..models import Channel
from ..settings.routing import ALWAYS_ALLOWED_AWAY_REASONS
from ..store import Conn
from ..store import agents as store_agents
from ..store import board as store_board
from ..store import calls as store_calls
from ..store import offers as store_offers
from ..store import routing as store_routing
from ..store.agents import AgentStatus
from ..store.interactions import wake_routers
from .matcher import SLOT, offer_expiry
from .ordering import rank_at
from .overflow import move
from .router import Router

log = logging.getLogger(__name__)
T = TypeVar("T")
ATTEMPTS = 4


@dataclass(frozen=True)
class QueueBoard:
    """One queue and channel on the supervisor's board."""

    queue: str
    channel: str
    waiting: int
    offered: int
    longest_wait_s: float
    answered: int
    abandoned: int
    avg_answer_s: float | None
    service_level_pct: float | None  # answered in target / (answered + abandoned after the target)
    target_pct: float
    target_s: float
    agents: dict[str, int]  # agents of the queue by state


class RoutingError(ValueError):
    """An operation that cannot be done as asked; the message says why, for the user."""


class Routing:
    """The routing API of one node: the router plus the operations on agents and interactions."""

    def __init__(self, router: Router):
        self.router = router
        self.store = router.store
        self.cic = router.cic
        self.clock = router.clock

    def _tx(self, work: Callable[[Conn], T]) -> T:
        return self._retrying(work, transaction=True)

    def _one(self, statement: Callable[[Conn], T]) -> T:
        """A single statement: atomic by itself on an autocommit connection, so it needs no
        BEGIN and COMMIT round trips (the voice path runs several per call)."""
        return self._retrying(statement, transaction=False)

    def _retrying(self, work: Callable[[Conn], T], transaction: bool) -> T:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                with self.store.transaction() if transaction else self.store.connection() as conn:
                    return work(conn)
            except (DeadlockDetected, SerializationFailure) as exc:
                if attempt == ATTEMPTS:
                    raise
                log.info("routing operation retried after %s", type(exc).__name__)
        raise AssertionError("unreachable")

    def agent_id(self, login: str) -> int:
        found = self._one(lambda conn: store_agents.id_by_login(conn, login))
        if found is None:
            raise RoutingError(f"no agent with login {login!r}")
        return found

    def status(self, agent_id: int) -> AgentStatus:
        found = self._one(lambda conn: store_agents.status(conn, agent_id))
        if found is None:
            raise RoutingError(f"no agent {agent_id}")
        return found

    # Presence -----------------------------------------------------------------------------

    def set_available(self, agent_id: int) -> None:
        self._set_presence(agent_id, "available", None)

    def set_away(self, agent_id: int, reason: str) -> None:
        if reason not in self.cic.routing.away_reasons and reason not in ALWAYS_ALLOWED_AWAY_REASONS:
            raise RoutingError(f"unknown away reason {reason!r} (configured: {', '.join(self.cic.routing.away_reasons)})")
        self._set_presence(agent_id, "away", reason)

    def set_offline(self, agent_id: int) -> None:
        self._set_presence(agent_id, "offline", None)

    def _set_presence(self, agent_id: int, presence: str, reason: str | None) -> None:
        def work(conn: Conn) -> None:
            now = self.clock.now()
            if store_agents.status(conn, agent_id, lock=True) is None:
                raise RoutingError(f"no agent {agent_id}")
            if presence != "available":
                # Offers the agent can no longer answer go back to the queue, without blame.
                for interaction_id in store_agents.offers_held(conn, agent_id):
                    store_offers.release(conn, interaction_id, agent_id, now, kind="offer_withdrawn",
                                         exclude=False, reason=f"agent {presence}")
            store_agents.set_presence(conn, agent_id, presence, reason, now)
        self._tx(work)

    # The offer protocol -------------------------------------------------------------------

    def accept(self, interaction_id: int, agent_id: int) -> None:
        if not self._one(lambda conn: store_offers.accept(conn, interaction_id, agent_id, self.clock.now(), None)):
            raise RoutingError(f"interaction {interaction_id} is not offered to agent {agent_id} (expired or taken)")

    def reject(self, interaction_id: int, agent_id: int) -> None:
        self.give_back(interaction_id, agent_id, "rejected")

    def give_back(self, interaction_id: int, agent_id: int, reason: str, missed: bool = False) -> None:
        """The channel could not connect the agent (the phone rang out, or was busy): the offer
        goes back and the interaction to its place, without this agent. A ring-out counts as a
        missed offer."""
        done = self._one(lambda conn: store_offers.release(
            conn, interaction_id, agent_id, self.clock.now(), kind="offer_timeout" if missed else "offer_rejected",
            exclude=True, missed=missed, max_missed=self.cic.routing.max_missed_offers, reason=reason,
            reoffer_after_s=self.cic.routing.reoffer_after_s))
        if not done:
            raise RoutingError(f"interaction {interaction_id} is not offered to agent {agent_id}")

    def place_in_line(self, interaction_id: int) -> tuple[int | None, float | None]:
        """(position in its queue and channel, expected wait in seconds) for announcements: the
        position times how often its line was answered in the last hour (None without history)."""
        def read(conn: Conn):
            place = store_routing.position(conn, interaction_id)
            every = store_routing.answer_interval_s(conn, interaction_id, self.clock.now() - timedelta(hours=1))
            return place, (every * place if place is not None and every is not None else None)
        return self._tx(read)

    def state(self, interaction_id: int) -> tuple[str, int | None]:
        """(state, the agent working it) of an interaction."""
        found = self._one(lambda conn: store_routing.state_and_agent(conn, interaction_id))
        if found is None:
            raise RoutingError(f"no interaction {interaction_id}")
        return found

    def waiting_state(self, interaction_id: int) -> tuple[list[int], str | None]:
        """(agents holding an offer of it now, how it ended): what a channel looks at once when it
        starts listening for an interaction's offers."""
        return self._one(lambda conn: store_routing.waiting_state(conn, interaction_id))

    def offered_to(self, interaction_id: int) -> list[int]:
        """The agents holding an offer of the interaction now (none unless it is offered)."""
        return self._one(lambda conn: store_routing.offered_to(conn, interaction_id))

    def end(self, interaction_id: int, agent_id: int, outcome: str = "handled") -> None:
        """The agent is done with the customer; wrap-up follows for the queue's wrap_up_s."""
        wraps = {queue_id: float(q.wrap_up_s) for queue_id, q in self.router.queues.by_id.items()}
        if not self._one(lambda conn: store_offers.end_work(
                conn, interaction_id, agent_id, self.clock.now(), wraps, outcome, None)):
            raise RoutingError(f"agent {agent_id} is not working interaction {interaction_id}")

    def complete_wrap_up(self, interaction_id: int, agent_id: int, disposition: str | None = None) -> None:
        done = self._one(lambda conn: store_offers.close_wrap_up(
            conn, interaction_id, agent_id, self.clock.now(), disposition, None))
        if not done:
            raise RoutingError(f"interaction {interaction_id} is not in wrap-up with agent {agent_id}")

    def transfer(self, interaction_id: int, agent_id: int, queue: str, to_agent_id: int | None = None,
                 actor: str | None = None) -> None:
        """A blind transfer: the agent lets go and the interaction waits in `queue` at its place
        in time, offered at once to `to_agent_id` when given (and able to take it)."""
        if queue not in self.router.queues.ids:
            raise RoutingError(f"no queue named {queue!r}")

        def work(conn: Conn) -> None:
            now = self.clock.now()
            data = {"to_queue": queue, "to_agent_id": to_agent_id}
            if not store_offers.requeue(conn, interaction_id, agent_id, now, data, actor,
                                        self.cic.routing.reoffer_after_s):
                raise RoutingError(f"agent {agent_id} is not working interaction {interaction_id}")
            item = self._lock_queued(conn, interaction_id, actor or "agent")
            if item.queue_id != self.router.queues.ids[queue]:
                try:
                    move(conn, self.router.queues, self.router.cic.routing, item, queue, now, kind="moved", actor=actor)
                except ValueError as exc:
                    raise RoutingError(str(exc)) from None
            else:
                wake_routers(conn, f"interaction:{item.id}")
            if to_agent_id is not None:
                item = self._lock_queued(conn, interaction_id, actor or "agent")
                if not self._offer_to(conn, item, to_agent_id, actor):
                    # Rolled back with the rest: the sender keeps the interaction and hears why.
                    raise RoutingError(self._cannot_take(conn, to_agent_id, item.channel))
        self._tx(work)

    def _cannot_take(self, conn: Conn, agent_id: int, channel: str) -> str:
        """Why an agent cannot be offered an interaction of `channel` now, in words for the sender."""
        agent = store_agents.status(conn, agent_id)
        assert agent is not None
        if agent.presence != "available":
            why = f"{agent.presence} ({agent.away_reason})" if agent.away_reason else agent.presence
            return f"{agent.name} is {why}: choose another agent or a queue"
        if agent.loads[SLOT[channel]] >= agent.caps[SLOT[channel]]:
            return f"{agent.name} has no free {Channel(channel)} slot ({self._load(agent, channel)})"
        return f"{agent.name} cannot take it now (on a call): choose another agent or a queue"

    def hand_over(self, interaction_id: int, agent_id: int, to_agent_id: int, actor: str | None = None) -> None:
        """An attended transfer to another agent, completed: the interaction is theirs now."""
        if not self._one(lambda conn: store_offers.hand_over(
                conn, interaction_id, agent_id, to_agent_id, self.clock.now(), actor)):
            raise RoutingError(f"agent {agent_id} is not working interaction {interaction_id}")

    def note(self, interaction_id: int, kind: str, agent_id: int | None = None, data: dict | None = None,
             actor: str | None = None) -> None:
        """A timeline row about the interaction (a call held, a recording...), with its live event."""
        self._one(lambda conn: store_routing.record(conn, kind, self.clock.now(), interaction_id,
                                                    agent_id=agent_id, actor=actor, data=data))

    def request_callback(self, interaction_id: int, number: str, actor: str = "customer") -> bool:
        """A waiting call becomes a callback to `number`, keeping its place in line; False when
        it no longer waits."""
        return self._tx(lambda conn: store_calls.request_callback(conn, interaction_id, number, self.clock.now(), actor))

    # Supervisor operations ----------------------------------------------------------------

    def _lock_queued(self, conn: Conn, interaction_id: int, actor: str, placed: bool = True) -> store_routing.Waiting:
        """Lock an interaction that waits; an outstanding offer is withdrawn first."""
        locked = store_routing.lock_interaction(conn, interaction_id)
        if locked is None:
            raise RoutingError(f"no interaction {interaction_id}")
        item = locked.item
        if locked.state == "offered":
            now = self.clock.now()
            for agent_id in locked.offered_to:
                store_offers.release(conn, interaction_id, agent_id, now, kind="offer_withdrawn", exclude=False,
                                     reason=actor, actor=actor)
        elif locked.state != "queued":
            raise RoutingError(f"interaction {interaction_id} is {locked.state}, not waiting")
        if placed and item.rank_at is None:
            raise RoutingError(f"interaction {interaction_id} is still being queued; try again")
        return item

    def move(self, interaction_id: int, queue: str, actor: str) -> None:
        if queue not in self.router.queues.ids:
            raise RoutingError(f"no queue named {queue!r}")

        def work(conn: Conn) -> None:
            item = self._lock_queued(conn, interaction_id, actor)
            try:
                move(conn, self.router.queues, self.router.cic.routing, item, queue, self.clock.now(), kind="moved", actor=actor)
            except ValueError as exc:
                raise RoutingError(str(exc)) from None
        self._tx(work)

    def set_priority(self, interaction_id: int, priority: int, actor: str) -> None:
        def work(conn: Conn) -> None:
            item = self._lock_queued(conn, interaction_id, actor)
            now = self.clock.now()
            tier = store_routing.customer_tier(conn, item.customer_id)
            store_routing.update_waiting(
                conn, item.id, priority=priority, rank_at=rank_at(self.cic.routing, item.queued_at, priority, tier))
            store_routing.record(conn, "priority_changed", now, item.id, actor=actor,
                                 data={"from": item.priority, "to": priority})
            wake_routers(conn, f"interaction:{item.id}")
        self._tx(work)

    def assign(self, interaction_id: int, agent_id: int, actor: str) -> None:
        """Offer the interaction to this agent now, whatever the strategy, skills or an earlier
        rejection; the agent still has to be available with a free slot, and to accept."""
        def work(conn: Conn) -> None:
            item = self._lock_queued(conn, interaction_id, actor)
            if not self._offer_to(conn, item, agent_id, actor):
                agent = store_agents.status(conn, agent_id)
                assert agent is not None
                raise RoutingError(
                    f"agent {agent.login} cannot take it now ({agent.state}, {self._load(agent, item.channel)})")
        self._tx(work)

    def _offer_to(self, conn: Conn, item: store_routing.Waiting, agent_id: int, actor: str | None) -> bool:
        agent = store_agents.status(conn, agent_id)
        if agent is None:
            raise RoutingError(f"no agent {agent_id}")
        now = self.clock.now()
        queue = self.router.queues.by_id.get(item.queue_id)
        timeout = (queue.offer_timeout_s if queue else None) or self.cic.routing.offer_timeout_s
        return bool(store_offers.offer(conn, [store_offers.OfferPair(
            interaction_id=item.id, agent_id=agent_id, cap=agent.caps[SLOT[item.channel]],
            exclusive=agent.voice_exclusive, queue_id=item.queue_id, expires_at=offer_expiry(now, timeout),
        )], now, actor=actor))

    @staticmethod
    def _load(agent: AgentStatus, channel: str) -> str:
        return f"{agent.loads[SLOT[channel]]} of {agent.caps[SLOT[channel]]} {Channel(channel)}"

    def abandon(self, interaction_id: int, reason: str = "customer left") -> None:
        """The customer gave up while waiting (hung up, closed the chat): closed as abandoned
        with the time waited; an outstanding offer is withdrawn."""
        def work(conn: Conn) -> None:
            # Its place in line does not matter any more: it may go before the router placed it.
            item = self._lock_queued(conn, interaction_id, actor="customer", placed=False)
            now = self.clock.now()
            store_routing.update_waiting(conn, item.id, state="closed", closed_at=now, outcome="abandoned")
            store_routing.record(conn, "abandoned", now, item.id, data={
                "reason": reason, "waited_s": (now - item.queued_at).total_seconds()})
        self._tx(work)

    # The board ----------------------------------------------------------------------------

    def queue_board(self, since: datetime) -> list[QueueBoard]:
        queues = self.router.queues
        targets = {(qid, c.value): q.target(c).within_s for qid, q in queues.by_id.items() for c in q.channels}
        now = self.clock.now()

        def read(conn: Conn):
            return store_board.queue_figures(conn, targets, since, now), store_board.agents_by_state(conn)
        figures, agents = self._tx(read)
        out = []
        for f in figures:
            queue = queues.by_id[f.queue_id]
            counted = f.answered + f.abandoned - f.abandoned_in_target
            target = queue.target(f.channel)
            out.append(QueueBoard(
                queue=queue.name, channel=f.channel, waiting=f.waiting, offered=f.offered,
                longest_wait_s=f.longest_wait_s, answered=f.answered, abandoned=f.abandoned,
                avg_answer_s=f.avg_answer_s,
                service_level_pct=round(100 * f.answered_in_target / counted, 1) if counted else None,
                target_pct=target.percent, target_s=target.within_s, agents=agents.get(f.queue_id, {}),
            ))
        return out
