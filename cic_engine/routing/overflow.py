"""Overflow steps and queue moves of a waiting interaction.

A queue's steps fire in order, each `after_s` seconds after the interaction entered the queue:
relax the required skill levels, add another queue's agents, move to another queue (whose own
steps then start), or, for a call, offer a callback or send it to voicemail. Each step is a
timeline row; a step that does not apply to the channel is recorded as skipped.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ..models import Channel
from ..settings.routing import QueueConfig, RoutingSection
from ..store import Conn
from ..store import routing as store_routing
from ..store.interactions import wake_routers
from .ordering import rank_at
from .queues import QueueDirectory


def takes(queue: QueueConfig, channel: str) -> bool:
    return Channel(channel) in queue.channels


def step_at(queue: QueueConfig, entered: datetime, index: int) -> datetime | None:
    if index >= len(queue.overflow):
        return None
    return entered + timedelta(seconds=queue.overflow[index].after_s)


def first_step_at(queue: QueueConfig, entered: datetime) -> datetime | None:
    return step_at(queue, entered, 0)


def move(
    conn: Conn, queues: QueueDirectory, routing: RoutingSection, item: store_routing.Waiting, target_name: str,
    now: datetime, *,
    kind: str, actor: str | None = None, data: dict | None = None,
) -> None:
    """Move a locked, queued interaction to another queue. It keeps its place in time (queued_at)
    with the new queue's priority, and the new queue's overflow steps start now."""
    source = queues.by_id.get(item.queue_id)
    target_id, target = queues.named(target_name)
    if not takes(target, item.channel):
        raise ValueError(f"queue {target_name!r} does not take {item.channel} interactions")
    priority = item.priority - (source.priority if source else 0) + target.priority
    store_routing.update_waiting(
        conn, item.id, queue_id=target_id, priority=priority,
        rank_at=rank_at(routing, item.queued_at, priority, store_routing.customer_tier(conn, item.customer_id)),
        queue_entered_at=now, overflow_step=0, next_overflow_at=first_step_at(target, now), skill_relax=0,
        extra_queue_ids=[], sticky_agent_id=None, sticky_until=None,
    )
    store_routing.record(conn, kind, now, item.id, actor=actor, data={
        **(data or {}), "from_queue": source.name if source else None, "to_queue": target_name,
    })
    wake_routers(conn, f"interaction:{item.id}")


def apply_next_step(conn: Conn, queues: QueueDirectory, routing: RoutingSection, item: store_routing.Waiting,
                    now: datetime) -> None:
    queue = queues.by_id.get(item.queue_id)
    index = item.overflow_step
    if queue is None or index >= len(queue.overflow):
        store_routing.update_waiting(conn, item.id, next_overflow_at=None)
        return
    step = queue.overflow[index]
    event = {"step": index + 1, "action": step.action, "after_s": step.after_s, "queue": queue.name}
    nxt = {"overflow_step": index + 1, "next_overflow_at": step_at(queue, item.queue_entered_at, index + 1)}
    voice = item.channel == Channel.voice.value
    if step.action == "move-to-queue" and takes(queues.named(step.queue or "")[1], item.channel):
        store_routing.update_waiting(conn, item.id, **nxt)
        move(conn, queues, routing, item, step.queue or "", now, kind="overflow", data=event)
        return
    if step.action == "relax-skills":
        store_routing.update_waiting(conn, item.id, skill_relax=item.skill_relax + step.by, **nxt)
        event["skill_relax"] = item.skill_relax + step.by
    elif step.action == "add-queue":
        extra = list(dict.fromkeys([*item.extra_queue_ids, queues.ids[step.queue or ""]]))
        store_routing.update_waiting(conn, item.id, extra_queue_ids=extra, **nxt)
        event["added_queue"] = step.queue
    elif step.action == "callback" and voice:
        store_routing.update_waiting(conn, item.id, callback=True, **nxt)
    elif step.action == "voicemail" and voice:
        store_routing.update_waiting(conn, item.id, state="closed", closed_at=now, outcome="voicemail", **nxt)
    else:
        store_routing.update_waiting(conn, item.id, **nxt)
        event["skipped"] = (f"queue {step.queue!r} does not take {item.channel}" if step.action == "move-to-queue"
                            else f"{step.action} applies to calls only")
    store_routing.record(conn, "overflow", now, item.id, data=event)
    wake_routers(conn, f"interaction:{item.id}")
