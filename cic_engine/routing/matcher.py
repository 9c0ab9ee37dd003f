"""Matching waiting interactions to free agents: pure, no I/O, fed by one routing pass.

Interactions come in routing order (routing/ordering.py); each takes the best eligible agent by
its queue's strategy. An agent gets at most one new offer per pass, so every pass sees fresh
loads and idle times (strategies stay honest) and the reservation needs no per-agent sums;
the router runs passes until one makes no offer.

Eligible: the agent serves the interaction's queue (or a queue an overflow step added), was not
excluded for it (rejected or let an offer time out), holds fewer interactions of its channel than
both its own capacity and the queue's, is not on a call when it blends voice exclusively, speaks
the language asked for, and has every required skill at the required level less any relaxation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ..models import Channel
from ..settings.routing import CHANNEL_SLOTS, QueueConfig, Strategy
from ..store.agents import FreeAgent
from ..store.routing import Waiting

SLOT = {c.value: i for i, c in enumerate(CHANNEL_SLOTS)}  # 0-based here; SQL arrays are 1-based
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Match:
    interaction_id: int
    agent_ids: tuple[int, ...]  # several for ring-all
    queue_id: int
    channel: str


def required_skills(queue: QueueConfig, item: Waiting) -> dict[str, int]:
    """The queue's skills and the interaction's own (the higher level wins), lowered by the
    overflow relaxation; a skill relaxed to 0 is no longer required."""
    merged = dict(queue.skills)
    for skill, level in item.skills.items():
        merged[skill] = max(level, merged.get(skill, 0))
    return {s: lv - item.skill_relax for s, lv in merged.items() if lv - item.skill_relax > 0}


def queue_cap(queue: QueueConfig, agent: FreeAgent, channel: str) -> int:
    own = agent.caps[SLOT[channel]]
    limit = queue.capacity.get(Channel(channel))
    return own if limit is None else min(own, limit)


def eligible(agent: FreeAgent, item: Waiting, queue: QueueConfig, skills: Mapping[str, int]) -> bool:
    slot = SLOT[item.channel]
    if agent.id in item.excluded or agent.loads[slot] >= queue_cap(queue, agent, item.channel):
        return False
    if agent.voice_exclusive and slot != 0 and agent.loads[0] > 0:
        return False
    language = item.language or queue.language
    if language and language not in agent.languages:
        return False
    return all(agent.skills.get(s, 0) >= lv for s, lv in skills.items())


def _idle(agent: FreeAgent) -> datetime:
    return agent.idle_since or _EPOCH


def strategy_key(strategy: Strategy, queue_id: int, skills: Mapping[str, int]) -> Callable[[FreeAgent], tuple]:
    """Sort key: the best agent for the strategy first; ties go to the longest idle, then the id."""
    if strategy == Strategy.least_occupied:
        return lambda a: (sum(a.loads) / max(1, sum(a.caps)), _idle(a), a.id)
    if strategy == Strategy.round_robin:
        return lambda a: (a.last_offered.get(queue_id) or _EPOCH, a.id)
    if strategy == Strategy.best_skill:
        return lambda a: (-sum(a.skills.get(s, 0) for s in skills), _idle(a), a.id)
    return lambda a: (_idle(a), a.id)  # longest-idle, and ring-all's order


class _Pool:
    """The free agents of one pass, with per-queue candidate lists sorted once by strategy."""

    def __init__(self, agents: Iterable[FreeAgent]):
        self.all = {a.id: a for a in agents}
        self.free = dict(self.all)
        self._sorted: dict[tuple, list[FreeAgent]] = {}

    def candidates(self, queue_ids: tuple[int, ...], strategy: Strategy, skills: Mapping[str, int]) -> list[FreeAgent]:
        key = (queue_ids, strategy, tuple(sorted(skills)) if strategy == Strategy.best_skill else ())
        found = self._sorted.get(key)
        if found is None:
            members = {a.id: a for a in self.free.values() if any(q in a.last_offered for q in queue_ids)}
            found = sorted(members.values(), key=strategy_key(strategy, queue_ids[0], skills))
            self._sorted[key] = found
        # Taken agents leave the front of the list; trimming keeps the next scan short.
        while found and found[0].id not in self.free:
            found.pop(0)
        return found

    def take(self, agent_id: int) -> None:
        self.free.pop(agent_id, None)


class Matcher:
    """One pass's matching: feed pages of waiting interactions in routing order until the free
    agents are all taken (`done`)."""

    def __init__(self, agents: Iterable[FreeAgent], queues: Mapping[int, QueueConfig], now: datetime):
        self.pool = _Pool(agents)
        self.queues = queues
        self.now = now

    @property
    def done(self) -> bool:
        return not self.pool.free

    def serves(self, queue_id: int, channel: str) -> bool:
        """Whether a free agent of the queue still has room on the channel (by its own capacity)."""
        slot = SLOT[channel]
        return any(queue_id in a.last_offered and a.loads[slot] < a.caps[slot] for a in self.pool.free.values())

    def agent(self, agent_id: int) -> FreeAgent:
        return self.pool.all[agent_id]

    def feed(self, items: Iterable[Waiting]) -> list[Match]:
        matches: list[Match] = []
        for item in items:
            if self.done:
                break
            found = self._match_one(item)
            if found is not None:
                for agent_id in found.agent_ids:
                    self.pool.take(agent_id)
                matches.append(found)
        return matches

    def _match_one(self, item: Waiting) -> Match | None:
        queue = self.queues.get(item.queue_id)
        if queue is None:
            return None  # a queue no longer configured: a supervisor has to move it
        skills = required_skills(queue, item)
        if item.sticky_agent_id is not None:
            sticky = self.pool.free.get(item.sticky_agent_id)
            queue_ids = (item.queue_id, *item.extra_queue_ids)
            if (sticky is not None and any(q in sticky.last_offered for q in queue_ids)
                    and eligible(sticky, item, queue, skills)):
                return Match(item.id, (sticky.id,), item.queue_id, item.channel)
            if item.sticky_until is not None and self.now < item.sticky_until:
                return None  # waiting for that agent a little longer
        ring_all = queue.strategy == Strategy.ring_all and item.channel == Channel.voice.value
        chosen: list[int] = []
        for agent in self.pool.candidates((item.queue_id, *item.extra_queue_ids), queue.strategy, skills):
            if agent.id in self.pool.free and eligible(agent, item, queue, skills):
                chosen.append(agent.id)
                if not ring_all:
                    break
        return Match(item.id, tuple(chosen), item.queue_id, item.channel) if chosen else None


def offer_expiry(now: datetime, timeout_s: float) -> datetime:
    return now + timedelta(seconds=timeout_s)
