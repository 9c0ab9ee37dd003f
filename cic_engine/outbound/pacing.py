"""Predictive pacing: how many calls to place for the agents about to be free, so that agents
wait little but few answered calls find no agent (an abandoned call: the customer hears
silence). The ratio adapts to the answer rate seen, and is cut back whenever the abandon rate
of the recent calls nears the cap (e.g. 3 %)."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field


@dataclass
class Pacer:
    max_abandon_rate: float = 0.03
    window: int = 200  # recent answered calls the rates are computed over
    max_ratio: float = 3.0
    answered: deque = field(default_factory=lambda: deque(maxlen=200))  # True: answered and abandoned
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
        # Until enough calls are seen, assume half are answered (a cautious start).
        return self.answers / self.placed if self.placed >= 20 else 0.5

    @property
    def abandon_rate(self) -> float:
        return sum(self.answered) / len(self.answered) if self.answered else 0.0

    @property
    def ratio(self) -> float:
        """Calls per free agent: 1 / answer rate, pulled back towards 1 as abandons near the cap."""
        base = min(self.max_ratio, 1.0 / max(self.answer_rate, 1.0 / self.max_ratio))
        headroom = 1.0 - self.abandon_rate / self.max_abandon_rate if self.max_abandon_rate else 0.0
        if headroom <= 0:
            return 1.0  # at or over the cap: progressive (one call per free agent) until it recovers
        return 1.0 + (base - 1.0) * min(1.0, headroom)

    def calls_to_place(self, free_agents: int, calls_ringing: int) -> int:
        """New calls to place now: free agents times the ratio, less the calls already ringing."""
        return max(0, math.floor(free_agents * self.ratio + 1e-9) - calls_ringing)
