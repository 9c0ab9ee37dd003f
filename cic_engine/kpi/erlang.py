"""Erlang C: how many agents an interval needs so that a share of contacts is answered within a
target time, given the volume and the average handle time (M/M/N, callers wait, nobody leaves)."""

from __future__ import annotations

import math


def wait_probability(agents: int, traffic: float) -> float:
    """Erlang C: the chance that a contact waits at all, with `agents` serving `traffic` erlangs."""
    if traffic <= 0:
        return 0.0
    if agents <= traffic:
        return 1.0
    # The sum of traffic^k / k! for k < agents, built term by term (no factorials to overflow).
    term, total = 1.0, 1.0
    for k in range(1, agents):
        term *= traffic / k
        total += term
    last = term * traffic / agents * agents / (agents - traffic)
    return last / (total + last)


def service_level(agents: int, contacts: float, aht_s: float, interval_s: float, target_s: float) -> float:
    """The share of contacts answered within `target_s` (0..1)."""
    if contacts <= 0:
        return 1.0
    traffic = contacts * aht_s / interval_s
    if agents <= traffic:
        return 0.0
    return 1.0 - wait_probability(agents, traffic) * math.exp(-(agents - traffic) * target_s / aht_s)


def agents_needed(contacts: float, aht_s: float, interval_s: float, target_pct: float, target_s: float,
                  limit: int = 10_000) -> int:
    """The fewest agents that meet target_pct % answered within target_s."""
    if contacts <= 0 or aht_s <= 0:
        return 0
    agents = max(1, math.floor(contacts * aht_s / interval_s) + 1)
    while agents < limit and service_level(agents, contacts, aht_s, interval_s, target_s) * 100 < target_pct:
        agents += 1
    return agents
