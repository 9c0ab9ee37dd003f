"""What happens to an interaction when the router first sees it: open hours and the
after-hours action, its place in line, its first overflow time and its sticky agent. Pure."""

from __future__ import annotations

from datetime import datetime, timedelta

from ..models import Channel
from ..settings.routing import RoutingSection
from ..store.routing import Arrival, LastAgent, Preparation
from .ordering import rank_at
from .overflow import first_step_at, takes
from .queues import QueueDirectory
from .schedule import is_open


def prepare(a: Arrival, last: LastAgent | None, queues: QueueDirectory, routing: RoutingSection,
            now: datetime) -> Preparation:
    queue = queues.by_id.get(a.queue_id)
    queue_id, priority, entered, callback, event, leaves = a.queue_id, a.priority, a.queued_at, False, None, False
    if queue is not None and not is_open(queue.hours, a.queued_at):
        action = queue.after_hours.action
        voice = a.channel == Channel.voice.value
        other = queues.named(queue.after_hours.queue) if queue.after_hours.queue else None
        if action == "queue" and other is not None and takes(other[1], a.channel):
            queue_id, other_queue = other
            priority += other_queue.priority - queue.priority
            entered = now
        elif action == "voicemail" and voice:
            leaves = True
        elif action == "callback" and voice:
            callback = True
        else:
            # A closed queue whose action does not fit the channel (voicemail for a chat, a queue that
            # does not take it) answers with an auto-reply; the interaction waits for the morning.
            action = "auto-reply"
        event = ("after_hours", {"queue": queue.name, "action": action, "to_queue": queue.after_hours.queue,
                                 "message": queue.after_hours.message})
    target = queues.by_id.get(queue_id)
    sticky_agent = sticky_until = None
    # The last agent is preferred whenever free, and waited for only while logged in, within wait_s.
    if (target is not None and last is not None and target.sticky.window_s > 0 and last.presence == "available"
            and queue_id in last.queue_ids and last.answered_at >= now - timedelta(seconds=target.sticky.window_s)):
        sticky_agent = last.agent_id
        sticky_until = a.queued_at + timedelta(seconds=target.sticky.wait_s)
    return Preparation(
        id=a.id,
        rank_at=None if leaves else rank_at(routing, a.queued_at, priority, a.tier),
        queue_id=queue_id, priority=priority, queue_entered_at=entered,
        next_overflow_at=first_step_at(target, entered) if target else None,
        sticky_agent_id=sticky_agent, sticky_until=sticky_until, callback=callback, event=event,
    )
