"""The one ordering of waiting interactions, across queues and channels.

Every waiting interaction gets a head start, in seconds of waiting, computed when the router
first sees it (and again when a supervisor changes its priority or queue, or the customer's
tier changes):

    head_start = priority * routing.priority_point_s + routing.tier_bonus_s[customer tier]
    rank_at    = queued_at - head_start

and interactions are offered in increasing `rank_at` (ties: older id first). `priority` is the
contact's own priority plus its queue's (a supervisor may change it). So a VIP customer is
served before a standard one who arrived less than the VIP bonus (600 s by default) earlier,
and a higher-priority queue goes first in the same way. Because everything waiting ages at the
same rate, the head start is all an item can ever get ahead by: a low-priority interaction
that has waited longer than the largest head start goes before anything that arrives later,
so nothing waits forever. The key never changes while an item waits, so PostgreSQL keeps the
order in an index, and an offer that is rejected or times out goes back to the same place.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ..models import Tier
from ..settings.routing import RoutingSection


def head_start_s(routing: RoutingSection, priority: int, tier: Tier | str) -> float:
    return priority * routing.priority_point_s + routing.tier_bonus_s.get(Tier(tier), 0.0)


def rank_at(routing: RoutingSection, queued_at: datetime, priority: int, tier: Tier | str) -> datetime:
    return queued_at - timedelta(seconds=head_start_s(routing, priority, tier))
