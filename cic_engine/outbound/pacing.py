"""Predictive pacing: how many calls to place for the agents free now, so that agents wait
little but few answered calls find no agent (an abandoned call: the customer hears a
message and the line is cleared). A cap such as 3 % of answered calls is the law in many places.

Each call placed is answered with the answer rate seen so far, so the calls answered out of
those under way are binomial. The pacer places the most calls for which the expected share of
answered calls that find no free agent stays under a target: half the cap while the abandon
rate seen is well under it, less as it nears the cap, and none at or over it, where only calls
that every one have an agent are placed (progressive). Agents who free up while calls ring
are not counted on, which keeps the estimate on the safe side.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field


def expected_abandon_share(free: int, ringing: int, waiting: int, answer_rate: float) -> float:
    """E[answered calls with no agent] / E[answered calls], when `waiting` answered calls and
    `ringing` calls (each answered with answer_rate) meet `free` agents."""
    p = min(1.0, max(0.0, answer_rate))
    expected = waiting + ringing * p
    if expected <= 0:
        return 0.0
    first = max(0, free - waiting + 1)  # the fewest answers from the ringing calls that overflow
    if p == 0.0 or first > ringing:
        return max(0, waiting - free) / expected
    if p == 1.0:
        return max(0, waiting + ringing - free) / expected
    # The binomial tail from `first` up, walked both ways from its largest term (which never
    # underflows, whatever the number of calls), each term from its neighbour.
    start = max(first, min(ringing, int(ringing * p)))
    log_pmf = (math.lgamma(ringing + 1) - math.lgamma(start + 1) - math.lgamma(ringing - start + 1)
               + start * math.log(p) + (ringing - start) * math.log1p(-p))
    odds, overflow = p / (1.0 - p), 0.0
    pmf = math.exp(log_pmf)
    for k in range(start, ringing + 1):
        overflow += (waiting + k - free) * pmf
        pmf *= (ringing - k) / (k + 1) * odds
    pmf = math.exp(log_pmf)
    for k in range(start, first, -1):
        pmf *= k / (ringing - k + 1) / odds  # the term of k - 1
        overflow += (waiting + k - 1 - free) * pmf
    return overflow / expected


@dataclass
class Pacer:
    max_abandon_rate: float = 0.03
    window: int = 200  # recent answered calls the abandon rate is computed over
    max_ratio: float = 3.0  # calls under way per free agent at the most
    answered: deque = field(default_factory=lambda: deque(maxlen=200))  # per answered call: abandoned?
    placed: int = 0
    answers: int = 0

    def record(self, answered: bool, abandoned: bool = False) -> None:
        """The outcome of one call placed: answered or not, and if answered, whether it found no agent."""
        self.placed += 1
        if answered:
            self.answers += 1
            self.answered.append(abandoned)

    @property
    def answer_rate(self) -> float:
        # Until enough calls are seen, assume half are answered: more than most lists, so a cautious start.
        return self.answers / self.placed if self.placed >= 20 else 0.5

    @property
    def abandon_rate(self) -> float:
        return sum(self.answered) / len(self.answered) if self.answered else 0.0

    @property
    def target(self) -> float:
        """The share of answered calls the calls placed now may be expected to abandon."""
        return max(0.0, min(self.max_abandon_rate / 2, self.max_abandon_rate - self.abandon_rate))

    def calls_to_place(self, free_agents: int, calls_ringing: int, calls_waiting: int = 0) -> int:
        """New calls to place now, for the free agents, the calls still ringing and the answered
        calls waiting for an agent."""
        if free_agents <= 0:
            return 0
        sure = max(0, free_agents - calls_ringing - calls_waiting)  # each of these would find an agent
        most = max(sure, math.floor(free_agents * self.max_ratio + 1e-9) - calls_ringing - calls_waiting)
        target, rate = self.target, self.answer_rate
        low, high = sure, most  # the largest n in [low, high] within the target: the share grows with n
        while low < high:
            n = (low + high + 1) // 2
            if expected_abandon_share(free_agents, calls_ringing + n, calls_waiting, rate) <= target:
                low = n
            else:
                high = n - 1
        return low
