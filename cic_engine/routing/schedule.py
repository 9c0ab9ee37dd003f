"""Open hours of a queue: weekly spans in the queue's time zone, minus holidays."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from ..settings.routing import OpenHours


def is_open(hours: OpenHours | None, at: datetime) -> bool:
    """Whether a queue with these hours is open at an aware instant. No hours: always open."""
    if hours is None:
        return True
    local = at.astimezone(ZoneInfo(hours.timezone))
    if local.date() in hours.holidays:
        return False
    now = local.time().replace(tzinfo=None)
    return any(start <= now and (end is None or now < end) for start, end in hours.spans(local.weekday()))
