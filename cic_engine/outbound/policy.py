"""Whether a customer may be contacted now, checked at the moment of dialling or sending (not
only at import): the do-not-contact list, their opt-out of the channel, a cap on contacts
across every campaign, quiet hours and the campaign's call window in the customer's own time
zone. The answer names the rule that said no, for the attempt's record on the timeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from ..settings.outbound import CampaignSettings, OutboundSection
from ..settings.routing import WEEKDAYS


@dataclass(frozen=True)
class Window:
    """Hours of the day (local to the customer) a campaign may reach them, by weekday (0 = Monday)."""

    start: time
    end: time
    weekdays: frozenset[int] = frozenset(range(7))

    def contains(self, local: datetime) -> bool:
        # An end of 00:00 is midnight: the window runs to the end of the day.
        at = local.time()
        return local.weekday() in self.weekdays and self.start <= at and (self.end == time(0) or at < self.end)


@dataclass(frozen=True)
class Rules:
    window: Window
    quiet: tuple[time, time] = (time(21, 0), time(8, 0))  # no contact between these, whatever the window
    max_per_week: int = 3  # contacts per customer across all campaigns, in any 7 days
    default_zone: str = "Asia/Shanghai"  # for a customer whose time zone is unknown


def rules_of(section: OutboundSection, campaign: CampaignSettings) -> Rules:
    """The center's rules (`[outbound]`) with the campaign's own hours."""
    hours = campaign.hours
    return Rules(window=Window(hours.start, hours.end, frozenset(WEEKDAYS.index(d) for d in hours.days)),
                 quiet=(section.quiet_start, section.quiet_end), max_per_week=section.max_per_week,
                 default_zone=section.default_time_zone)


@dataclass(frozen=True)
class Customer:
    do_not_contact: bool
    opted_out: frozenset[str]  # channels
    time_zone: str | None
    recent_contacts: tuple[datetime, ...]  # outbound attempts that reached them, any campaign


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str  # why not (or "ok")
    retry_at: datetime | None = None  # when it may be tried again, if time is the only obstacle


def may_contact(customer: Customer, channel: str, rules: Rules, now: datetime) -> Verdict:
    if customer.do_not_contact:
        return Verdict(False, "on the do-not-contact list")
    if channel in customer.opted_out:
        return Verdict(False, f"opted out of {channel}")
    week = [at for at in customer.recent_contacts if now - at < timedelta(days=7)]
    if len(week) >= rules.max_per_week:
        return Verdict(False, f"contacted {len(week)} times in 7 days (cap {rules.max_per_week})",
                       retry_at=min(week) + timedelta(days=7))
    zone = ZoneInfo(customer.time_zone or rules.default_zone)
    local = now.astimezone(zone)
    if _quiet(local.time(), rules.quiet):
        return Verdict(False, f"quiet hours there ({local:%H:%M} {zone.key})", retry_at=_next_open(local, rules, zone))
    if not rules.window.contains(local):
        return Verdict(False, f"outside the campaign's hours there ({local:%a %H:%M} {zone.key})",
                       retry_at=_next_open(local, rules, zone))
    return Verdict(True, "ok")


def _quiet(at: time, quiet: tuple[time, time]) -> bool:
    start, end = quiet
    return (start <= at or at < end) if start > end else (start <= at < end)


def _next_open(local: datetime, rules: Rules, zone: ZoneInfo) -> datetime | None:
    """The next moment (in 15-minute steps, within a fortnight) both the window and the quiet
    hours allow."""
    probe = local.replace(second=0, microsecond=0)
    probe += timedelta(minutes=15 - probe.minute % 15)
    for _ in range(14 * 24 * 4):
        if rules.window.contains(probe) and not _quiet(probe.time(), rules.quiet):
            return probe.astimezone(zone)
        probe += timedelta(minutes=15)
    return None
