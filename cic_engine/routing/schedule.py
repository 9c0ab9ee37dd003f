"""Open hours of a queue: weekly spans in the queue's time zone, minus holidays (its own dates
and a country's calendar); a calendar's make-up working day keeps a weekday's hours."""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from ..settings.routing import WEEKDAYS, OpenHours, holiday_calendar


@lru_cache(maxsize=32)
def _calendar(name: str) -> holidays.HolidayBase:
    return holiday_calendar(name)


def _weekday_hours(hours: OpenHours, day: date) -> int | None:
    """Whose hours the day keeps (0 = Monday); None: closed all day."""
    if day in hours.holidays:
        return None
    if hours.holiday_calendar is None:
        return day.weekday()
    calendar = _calendar(hours.holiday_calendar)
    if day in calendar:
        return None
    if hours.make_up_days_as is not None and day in calendar.weekend_workdays:
        return WEEKDAYS.index(hours.make_up_days_as)
    return day.weekday()


def is_open(hours: OpenHours | None, at: datetime) -> bool:
    """Whether a queue with these hours is open at an aware instant. No hours: always open."""
    if hours is None:
        return True
    local = at.astimezone(ZoneInfo(hours.timezone))
    weekday = _weekday_hours(hours, local.date())
    if weekday is None:
        return False
    now = local.time().replace(tzinfo=None)
    return any(start <= now and (end is None or now < end) for start, end in hours.spans(weekday))
