"""KPIs per interval (15 min, hour, day) and per queue, channel, queue and channel, or agent,
computed from what the timeline recorded of each interaction and each agent's state. Pure: the
facts come in (store/kpi.py reads them), the rows go out.

Definitions (the usual contact-center ones, stated so a supervisor can check a number):
- offered: interactions queued in the interval; answered: accepted by an agent; abandoned: the
  customer left while waiting; a short abandon (within `short_abandon_s`) counts in neither the
  service level nor the abandonment rate.
- service level: answered within the queue's target time / (answered + abandoned - short).
- ASA: average time from queued to answered. AHT: average time from answered to closed (talk and
  hold, then wrap-up). Talk and wrap-up are also given apart.
- first-contact resolution: handled interactions whose customer did not come back on any
  channel within `fcr_days`.
- occupancy: time agents spent handling / time they were staffed (any state but offline).
- staffed: agents on average over the interval; Erlang C: agents the queue needed for its target.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .erlang import agents_needed

INTERVALS = {"15min": 900, "hour": 3600, "day": 86400}
GROUPS = ("queue", "channel", "queue_channel", "agent")


@dataclass(frozen=True)
class Fact:
    """One interaction, as the timeline tells it."""

    id: int
    queue: str
    channel: str
    queued_at: datetime
    answered_at: datetime | None
    talk_end: datetime | None  # the agent ended the work (wrap-up starts)
    closed_at: datetime | None
    outcome: str | None
    agent: str | None  # who answered last
    transfers: int
    repeated: bool  # the customer came back within the FCR window


@dataclass(frozen=True)
class Staffing:
    """Seconds an agent was staffed and the queues they serve (for occupancy and Erlang C)."""

    agent: str
    queues: tuple[str, ...]
    spans: tuple[tuple[datetime, datetime], ...]  # staffed (not offline) periods


def _overlap(a0: datetime, a1: datetime, b0: datetime, b1: datetime) -> float:
    return max(0.0, (min(a1, b1) - max(a0, b0)).total_seconds())


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def kpis(facts: list[Fact], staffing: list[Staffing], targets: dict[tuple[str, str], tuple[float, float]],
         start: datetime, end: datetime, interval: str = "hour", group: str = "queue_channel",
         short_abandon_s: float = 5.0) -> list[dict]:
    """One row per interval and group key that had traffic. `targets`: (queue, channel) ->
    (service-level percent, within seconds)."""
    step = INTERVALS[interval]
    buckets: dict[tuple[datetime, str], list[Fact]] = defaultdict(list)
    for f in facts:
        # Intervals on the clock (09:00, 09:15; days from midnight UTC), whatever the range's start.
        slot = datetime.fromtimestamp(f.queued_at.timestamp() // step * step, UTC)
        key = {"queue": f.queue, "channel": f.channel, "queue_channel": f"{f.queue}/{f.channel}",
               "agent": f.agent or "(unanswered)"}[group]
        buckets[(slot, key)].append(f)
    rows = []
    for (slot, key), items in sorted(buckets.items()):
        rows.append(_row(slot, max(slot, start), min(slot + timedelta(seconds=step), end), key, items, staffing,
                         targets, group, short_abandon_s))
    return rows


def _row(slot: datetime, slot_start: datetime, slot_end: datetime, key: str, items: list[Fact],
         staffing: list[Staffing], targets: dict[tuple[str, str], tuple[float, float]], group: str,
         short_abandon_s: float) -> dict:
    """One interval's figures; staffing and handling are counted within the range's part of it."""
    answered = [f for f in items if f.answered_at is not None]
    abandoned = [f for f in items if f.outcome == "abandoned"]
    short = [f for f in abandoned if f.closed_at and (f.closed_at - f.queued_at).total_seconds() <= short_abandon_s]
    counted = len(answered) + len(abandoned) - len(short)
    target = _target(items, targets)
    in_target = [f for f in answered if target and (f.answered_at - f.queued_at).total_seconds() <= target[1]]
    handled = [f for f in answered if f.closed_at is not None]
    aht = _mean([(f.closed_at - f.answered_at).total_seconds() for f in handled])
    talk = _mean([((f.talk_end or f.closed_at) - f.answered_at).total_seconds() for f in handled])
    wrap = _mean([(f.closed_at - (f.talk_end or f.closed_at)).total_seconds() for f in handled])
    resolved_first = [f for f in handled if f.outcome in (None, "handled") and not f.repeated]
    people = [s for s in staffing if group != "agent" or s.agent == key]
    if group in ("queue", "queue_channel"):
        queue = key.split("/")[0]
        people = [s for s in people if queue in s.queues]
    staffed_s = sum(_overlap(a, b, slot_start, slot_end) for s in people for a, b in s.spans)
    busy_s = sum(_overlap(f.answered_at, f.closed_at, slot_start, slot_end) for f in handled
                 if group != "agent" or f.agent == key)
    seconds = (slot_end - slot_start).total_seconds()
    needed = None
    if target and group in ("queue", "queue_channel") and handled and aht:
        needed = agents_needed(len(items), aht, seconds, target[0], target[1])
    return {
        "interval": slot, "key": key, "offered": len(items), "answered": len(answered),
        "answered_in_target": len(in_target), "abandoned": len(abandoned), "short_abandons": len(short),
        "service_level_pct": round(100 * len(in_target) / counted, 1) if counted and target else None,
        "target_pct": target[0] if target else None, "target_s": target[1] if target else None,
        "asa_s": _mean([(f.answered_at - f.queued_at).total_seconds() for f in answered]),
        "aht_s": aht, "talk_s": talk, "wrap_s": wrap,
        "abandon_rate_pct": round(100 * (len(abandoned) - len(short)) / counted, 1) if counted else None,
        "fcr_pct": round(100 * len(resolved_first) / len(handled), 1) if handled else None,
        "transfers": sum(f.transfers for f in items),
        "occupancy_pct": round(100 * busy_s / staffed_s, 1) if staffed_s else None,
        "staffed_agents": round(staffed_s / seconds, 2) if seconds else None,
        "erlang_agents": needed,
    }


def _target(items: list[Fact], targets: dict[tuple[str, str], tuple[float, float]]) -> tuple[float, float] | None:
    """The service-level target of a group's traffic (of its first queue and channel)."""
    first = items[0]
    return targets.get((first.queue, first.channel))


CSV_COLUMNS = ("interval", "key", "offered", "answered", "answered_in_target", "abandoned", "short_abandons",
               "service_level_pct", "target_pct", "target_s", "asa_s", "aht_s", "talk_s", "wrap_s",
               "abandon_rate_pct", "fcr_pct", "transfers", "occupancy_pct", "staffed_agents", "erlang_agents")


def as_csv(rows: list[dict]) -> str:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(["" if row[c] is None else row[c].isoformat() if isinstance(row[c], datetime) else row[c]
                         for c in CSV_COLUMNS])
    return out.getvalue()
