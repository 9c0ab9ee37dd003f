"""Predictive pacing against simulated answer rates: agents are kept busy, and the abandon rate
(answered calls that found no agent) stays under the cap."""

from __future__ import annotations

import random

import pytest

from cic_engine.outbound.pacing import Pacer


def simulate(answer_rate: float, agents: int = 50, seconds: int = 3600, talk_s: int = 120, ring_s: int = 10,
             seed: int = 7) -> tuple[Pacer, float]:
    """One-second steps: calls ring ring_s, then are answered with answer_rate; an answered call
    takes a free agent for talk_s, or is abandoned when none is free. Returns the pacer and the
    agents' occupancy."""
    rng = random.Random(seed)
    pacer = Pacer(max_abandon_rate=0.03)
    busy_until: list[int] = []
    ringing: list[int] = []  # when each ringing call resolves
    busy_seconds = 0
    for now in range(seconds):
        busy_until = [t for t in busy_until if t > now]
        for due in [t for t in ringing if t == now]:
            ringing.remove(due)
            if rng.random() < answer_rate:
                if len(busy_until) < agents:
                    busy_until.append(now + talk_s)
                    pacer.record(answered=True)
                else:
                    pacer.record(answered=True, abandoned=True)
            else:
                pacer.record(answered=False)
        free = agents - len(busy_until)
        ringing += [now + ring_s] * pacer.calls_to_place(free, len(ringing))
        busy_seconds += len(busy_until)
    return pacer, busy_seconds / (agents * seconds)


@pytest.mark.parametrize("answer_rate", [0.2, 0.35, 0.6, 0.9])
def test_the_abandon_rate_stays_under_the_cap_whatever_the_answer_rate(answer_rate):
    pacer, occupancy = simulate(answer_rate)
    assert pacer.abandon_rate <= 0.03, (pacer.abandon_rate, pacer.ratio)
    assert occupancy > 0.6, occupancy  # and the agents are not left idle for it


def test_the_ratio_follows_the_answer_rate_and_falls_back_to_progressive_at_the_cap():
    pacer = Pacer(max_abandon_rate=0.03)
    assert pacer.calls_to_place(10, 0) == 20  # unknown answer rate: assume one in two
    for n in range(100):
        pacer.record(answered=n % 4 == 0)  # one in four answered
    assert pacer.ratio == pytest.approx(3.0)  # capped at max_ratio (1 / 0.25 = 4)
    for _ in range(10):
        pacer.record(answered=True, abandoned=True)
    assert pacer.abandon_rate > 0.03 and pacer.ratio == 1.0 and pacer.calls_to_place(5, 2) == 3
