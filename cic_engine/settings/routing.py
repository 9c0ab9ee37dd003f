"""Routing settings in cic.toml: the [routing] section, queues and seed agents (pydantic)."""

from __future__ import annotations

import re
from datetime import date, time
from enum import StrEnum
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from ..models import Channel, Tier

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
Name = Annotated[str, Field(pattern=NAME_PATTERN)]
SkillLevel = Annotated[int, Field(ge=1, le=10)]
Seconds = Annotated[float, Field(ge=0, le=30 * 86400)]

# Slot order of agents.loads / agents.caps (schemas/sql/0002_routing.sql, cic_channel_slot).
CHANNEL_SLOTS: tuple[Channel, ...] = (Channel.voice, Channel.email, Channel.sms, Channel.chat, Channel.fax)
DEFAULT_CAPACITY = {Channel.voice: 1, Channel.email: 5, Channel.sms: 3, Channel.chat: 3, Channel.fax: 5}
ALWAYS_ALLOWED_AWAY_REASONS = ("missed-offers", "disconnected")


class StrictModel(BaseModel):
    # An unknown key is almost always a typo that would otherwise be silently ignored.
    model_config = ConfigDict(extra="forbid")


Capacity = dict[Channel, Annotated[int, Field(ge=0, le=100)]]


class Strategy(StrEnum):
    longest_idle = "longest-idle"
    least_occupied = "least-occupied"
    round_robin = "round-robin"
    best_skill = "best-skill"
    ring_all = "ring-all"  # voice only; other channels of such a queue go longest-idle


class ServiceLevel(StrictModel):
    percent: float = Field(80, gt=0, le=100)
    within_s: Seconds = 20


class Sticky(StrictModel):
    window_s: Seconds = Field(0, description="prefer the customer's last agent if they handled them within; 0 = off")
    wait_s: Seconds = Field(30, description="how long to wait for that agent before offering to anyone")


_SPAN = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-(([01]\d|2[0-3]):([0-5]\d)|24:00)$")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def known_time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Asia/Shanghai)") from None
    return value


TimeZoneName = Annotated[str, AfterValidator(known_time_zone)]


def holiday_calendar(name: str) -> holidays.HolidayBase:
    """A country's calendar (`CN`, `US-CA`): its holidays, and its make-up working days where the
    country has them. Years are filled in as they are asked for."""
    country, _, subdivision = name.partition("-")
    supported = holidays.list_supported_countries()
    if country not in supported:
        raise ValueError(f"unknown holiday calendar {name!r} (a country code such as CN or US)")
    if subdivision and subdivision not in supported[country]:
        raise ValueError(f"{country} has no subdivision {subdivision!r} (known: {', '.join(supported[country][:12])}...)")
    return holidays.country_holidays(country, subdiv=subdivision or None)


class OpenHours(StrictModel):
    timezone: TimeZoneName = "UTC"
    mon: list[str] = Field(default_factory=list)
    tue: list[str] = Field(default_factory=list)
    wed: list[str] = Field(default_factory=list)
    thu: list[str] = Field(default_factory=list)
    fri: list[str] = Field(default_factory=list)
    sat: list[str] = Field(default_factory=list)
    sun: list[str] = Field(default_factory=list)
    holidays: list[date] = Field(default_factory=list, description="closed all day, in the queue's time zone")
    holiday_calendar: str | None = Field(None, description="a country's public holidays, from the maintained "
                                         "`holidays` package: CN, US, or with a subdivision, US-CA; closed on them "
                                         "as on `holidays`")
    make_up_days_as: Literal[WEEKDAYS] | None = Field(  # type: ignore[valid-type]
        "mon", description="on the calendar's make-up working days (a weekend day worked instead of a holiday, "
        "as China's 调休) the queue keeps this weekday's hours; none: its own weekend hours")

    @field_validator(*WEEKDAYS)
    @classmethod
    def _spans(cls, value: list[str]) -> list[str]:
        for span in value:
            m = _SPAN.match(span)
            if not m:
                raise ValueError(f"{span!r} is not HH:MM-HH:MM")
            if span[6:] != "24:00" and span[6:] <= span[:5]:
                raise ValueError(f"{span!r} ends before it starts (split spans that cross midnight)")
        return value

    @field_validator("holiday_calendar")
    @classmethod
    def _known_calendar(cls, value: str | None) -> str | None:
        if value is not None:
            holiday_calendar(value)  # raises ValueError naming what is wrong
        return value

    def spans(self, weekday: int) -> list[tuple[time, time | None]]:
        """(start, end) per span of a weekday (0 = Monday); end None means midnight."""
        out = []
        for span in getattr(self, WEEKDAYS[weekday]):
            start = time.fromisoformat(span[:5])
            out.append((start, None if span[6:] == "24:00" else time.fromisoformat(span[6:])))
        return out


class AfterHours(StrictModel):
    action: Literal["voicemail", "callback", "auto-reply", "queue"] = "auto-reply"
    queue: Name | None = Field(None, description="for action = queue")
    message: str | None = Field(None, max_length=2000, description="for auto-reply; the channel's default otherwise")

    @model_validator(mode="after")
    def _queue_given(self) -> AfterHours:
        if (self.action == "queue") != (self.queue is not None):
            raise ValueError("queue is required with action = \"queue\" and only then")
        return self


class OverflowStep(StrictModel):
    after_s: Seconds = Field(description="seconds after the interaction entered this queue")
    action: Literal["relax-skills", "add-queue", "move-to-queue", "callback", "voicemail"]
    by: int = Field(1, ge=1, le=10, description="relax-skills: lower every required level by this much")
    queue: Name | None = Field(None, description="add-queue / move-to-queue: the other queue")

    @model_validator(mode="after")
    def _queue_given(self) -> OverflowStep:
        needs_queue = self.action in ("add-queue", "move-to-queue")
        if needs_queue != (self.queue is not None):
            raise ValueError(f"queue is {'required' if needs_queue else 'not used'} with action = {self.action!r}")
        return self


class QueueConfig(StrictModel):
    name: Name
    channels: list[Channel] = Field(default_factory=lambda: list(Channel))
    priority: int = Field(0, ge=-100, le=100, description="added to every interaction's priority")
    strategy: Strategy = Strategy.longest_idle
    skills: dict[str, SkillLevel] = Field(default_factory=dict, description="required skills and minimum levels")
    language: str | None = Field(None, max_length=20)
    capacity: Capacity = Field(
        default_factory=dict,
        description="offer this queue's interactions only to agents holding fewer than this many on the channel",
    )
    offer_timeout_s: Seconds | None = Field(None, description="default: routing.offer_timeout_s")
    wrap_up_s: Seconds = Field(30, description="wrap-up time after an interaction ends; 0 closes at once")
    service_level: ServiceLevel = Field(default_factory=ServiceLevel)
    service_level_per_channel: dict[Channel, ServiceLevel] = Field(
        default_factory=dict, description="e.g. email = { percent = 90, within_s = 14400 }"
    )
    sticky: Sticky = Field(default_factory=Sticky)
    hours: OpenHours | None = Field(None, description="absent: always open")
    after_hours: AfterHours = Field(default_factory=AfterHours)
    overflow: list[OverflowStep] = Field(default_factory=list, max_length=20)
    recording: Literal["never", "always", "on-demand"] = Field(
        "never", description="calls of this queue: recorded from the answer, when the agent asks, or never")

    @field_validator("overflow")
    @classmethod
    def _in_order(cls, value: list[OverflowStep]) -> list[OverflowStep]:
        times = [s.after_s for s in value]
        if times != sorted(times):
            raise ValueError("overflow steps must be listed in order of after_s")
        return value


    def target(self, channel: Channel | str) -> ServiceLevel:
        return self.service_level_per_channel.get(Channel(channel), self.service_level)


# The hash of "cic-demo" that the shipped cic.toml gives its demo agents: anyone can log in
# with it, so the engine refuses it when reachable from other machines, and warns otherwise.
DEMO_PASSWORD_HASHES = frozenset({
    "$argon2id$v=19$m=65536,t=3,p=4$dD2vhfrd9WUBj1M9zWzK5w$ncEteul6jVo5PRWYB62Pu1rE3UwwA0fj6+kLrJ08pEg",
})


class AgentSeed(StrictModel):
    login: Name
    name: str = Field(min_length=1, max_length=200)
    roles: list[str] = Field(default_factory=lambda: ["agent"])
    queues: list[Name] = Field(default_factory=list)
    skills: dict[str, SkillLevel] = Field(default_factory=dict)
    languages: list[str] = Field(default_factory=list)
    capacity: Capacity = Field(default_factory=dict, description="overrides routing.capacity for this agent")
    voice_exclusive: bool | None = Field(None, description="default: routing.voice_exclusive")
    password_hash: str | None = Field(
        None, description="argon2 hash (`cic-engine hash-password`); unset: the one set by `cic-engine passwd` stays")
    department: Name | None = Field(None, description="for the department role: the department (cases.departments) "
                                    "whose cases this user works")

    @field_validator("password_hash")
    @classmethod
    def _argon2(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("$argon2"):
            raise ValueError("must be an argon2 hash as printed by `cic-engine hash-password`, not a password")
        return value

    @field_validator("roles")
    @classmethod
    def _known_roles(cls, value: list[str]) -> list[str]:
        unknown = set(value) - {"agent", "supervisor", "admin", "department"}
        if unknown:
            raise ValueError(f"unknown role(s) {sorted(unknown)}; use agent, supervisor, admin or department")
        return value

    @model_validator(mode="after")
    def _department_user(self) -> AgentSeed:
        if ("department" in self.roles) != (self.department is not None):
            raise ValueError("a department user has the role department and names its department, and only they do")
        return self


class RoutingSection(StrictModel):
    capacity: Capacity = Field(default_factory=lambda: dict(DEFAULT_CAPACITY))
    voice_exclusive: bool = Field(True, description="while on a call an agent gets no offer of another channel")
    offer_timeout_s: Seconds = 20
    max_missed_offers: int = Field(3, ge=1, le=100, description="consecutive offer timeouts before away")
    disconnected_after_s: float = Field(
        60, ge=20, le=3600, description="an available agent whose inbox lost its live connection this long is set away")
    reoffer_after_s: Seconds = Field(
        30, description="who rejected or missed an offer is passed over for it until this long after the last such")
    priority_point_s: Seconds = Field(30, description="one point of priority is worth this much waiting")
    tier_bonus_s: dict[Tier, Seconds] = Field(
        default_factory=lambda: {Tier.vip: 600, Tier.gold: 300, Tier.silver: 120, Tier.standard: 0},
        description="head start of each customer tier, in seconds of waiting",
    )
    away_reasons: list[Name] = Field(default_factory=lambda: ["break", "lunch", "meeting", "training", "coaching"])
    tick_s: float = Field(1.0, ge=0.05, le=1.0, description="longest sleep of a router between wake-ups")

    def caps_for(self, agent: AgentSeed) -> list[int]:
        merged = {**DEFAULT_CAPACITY, **self.capacity, **agent.capacity}
        return [merged[c] for c in CHANNEL_SLOTS]
