"""Predictive pacing against simulated answer rates: agents are kept busy, and the abandon rate
(answered calls that found no agent) stays under the cap."""

from __future__ import annotations

import random

import pytest

from cic_engine.outbound.pacing import Pacer, expected_abandon_share


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


def test_calls_follow_the_answer_rate_and_fall_back_to_progressive_at_the_cap():
    pacer = Pacer(max_abandon_rate=0.03)
    unknown = pacer.calls_to_place(10, 0)
    assert 10 < unknown < 20  # an unknown answer rate is taken as one in two, with a margin
    for n in range(100):
        pacer.record(answered=n % 4 == 0)  # one in four answered
    low_rate = pacer.calls_to_place(10, 0)
    assert low_rate > unknown and low_rate <= 30  # more calls for fewer answers, within max_ratio (3)
    # A larger team pools its chances: more calls per free agent for the same risk.
    assert pacer.calls_to_place(100, 0) / 100 > low_rate / 10
    assert pacer.calls_to_place(10, 20) < low_rate - 15  # the calls still ringing count
    for _ in range(10):
        pacer.record(answered=True, abandoned=True)
    assert pacer.abandon_rate > 0.03 and pacer.target == 0.0
    assert pacer.calls_to_place(5, 2) == 3  # progressive: only calls that all find an agent
    assert pacer.calls_to_place(5, 2, 3) == 0


def test_the_expected_abandon_share_is_the_binomial_overflow():
    # Two calls ringing, each answered one time in two, one agent free: the second answer of
    # the 1/4 chance that both answer finds nobody. E[overflow] = 1/4, E[answered] = 1.
    assert expected_abandon_share(1, 2, 0, 0.5) == pytest.approx(0.25)
    assert expected_abandon_share(3, 2, 1, 0.5) == 0.0  # every answer finds an agent
    assert expected_abandon_share(1, 0, 3, 0.5) == pytest.approx(2 / 3)  # two of three waiting find nobody
    assert expected_abandon_share(50, 2000, 0, 0.5) > 0.9  # far past what the team can take (no underflow)
