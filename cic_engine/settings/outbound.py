"""Campaign settings: `[[campaigns]]` and `[outbound]` in cic.toml, and what a supervisor posts
to the campaigns API; both go through these models, so both are refused the same way."""

from __future__ import annotations

import string
from datetime import time
from typing import Literal

from pydantic import Field, field_validator, model_validator

from ..models import Tier
from .routing import WEEKDAYS, Name, StrictModel, TimeZoneName

BUILTIN_PLACEHOLDERS = ("name", "phone", "email", "campaign")


def template_fields(template: str) -> set[str]:
    """The {placeholders} a template uses (raises ValueError on a malformed one)."""
    return {field for _, field, _, _ in string.Formatter().parse(template) if field}


class Hours(StrictModel):
    """When the campaign may reach a customer, in the customer's own time zone."""

    start: time = time(9, 0)
    end: time = Field(time(20, 0), description="00:00 is midnight: to the end of the day")
    days: list[Literal[WEEKDAYS]] = Field(default_factory=lambda: list(WEEKDAYS[:6]))  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _ordered(self) -> Hours:
        if self.end <= self.start and self.end != time(0):
            raise ValueError(f"end ({self.end:%H:%M}) must be after start ({self.start:%H:%M})")
        return self


class Segment(StrictModel):
    """Customers of the profile store to call, instead of (or besides) a CSV list."""

    tiers: list[Tier] = Field(default_factory=list, description="customers of these tiers (empty: any)")
    note_contains: str | None = Field(None, description="customers whose notes contain this text")


class RetryAfter(StrictModel):
    """Seconds before another attempt, per outcome of the last one."""

    busy: float = Field(600, ge=0)
    no_answer: float = Field(3600, ge=0)
    voicemail: float = Field(4 * 3600, ge=0)
    abandoned: float = Field(1800, ge=0)
    failed: float = Field(3600, ge=0)
    lost: float = Field(300, ge=0)
    skipped: float = Field(3600, ge=0, description="a preview the agent ended without dialling")


class CampaignSettings(StrictModel):
    name: Name
    title: str = Field("", max_length=200)
    channel: Literal["voice", "sms", "email"]
    mode: Literal["preview", "progressive", "predictive"] = Field(
        "progressive", description="voice only: preview (the agent sees the record, then dials), progressive "
        "(one call per free agent), predictive (paced by the answer rate, capped by max_abandon_rate)")
    queue: Name | None = Field(None, description="the queue whose agents work it (voice: required; messages: "
                               "where replies wait, else the default queue)")
    contacts_csv: str | None = Field(None, description="a CSV file (relative to cic.toml) imported at start")
    autostart: bool = Field(False, description="cic.toml: start the campaign when it is first created (a "
                            "supervisor's pause is kept across restarts)")
    segment: Segment | None = None
    hours: Hours = Field(default_factory=Hours)
    max_attempts: int = Field(3, ge=1, le=20)
    retry_after_s: RetryAfter = Field(default_factory=RetryAfter)
    template: str = Field("", max_length=4000, description="SMS or email text; placeholders: {name}, {phone}, "
                          "{email}, {campaign} and the CSV's columns")
    subject: str = Field("", max_length=300, description="email subject (placeholders as in template)")
    script: str = Field("", max_length=10_000, description="what the agent sees for a call")
    caller_id: str = Field("0000000000", pattern=r"^\+?[0-9]{3,20}$")
    max_abandon_rate: float = Field(0.03, ge=0, le=0.5)
    max_ratio: float = Field(3.0, ge=1, le=10)
    connect_within_s: float = Field(2.0, gt=0, le=30, description="an answered call that finds no agent "
                                    "within this is abandoned: it hears abandon_prompt and is hung up")
    abandon_prompt: str = "ivr/ivr-we_are_sorry.wav"
    machine_detection_s: float = Field(0, ge=0, le=30, description="listen for a voicemail beep (mod_avmd) "
                                       "this long before connecting; 0 = off (agents record machines by disposition)")
    voicemail_message: str | None = Field(None, description="played after the beep when a machine answers")
    machine_dispositions: list[str] = Field(default_factory=lambda: ["answering-machine"],
                                            description="wrap-up codes meaning a machine answered: retried as voicemail")
    retry_dispositions: list[str] = Field(default_factory=lambda: ["call-back-later"],
                                          description="wrap-up codes that ask for another attempt")
    conversions: list[str] = Field(default_factory=list, description="wrap-up codes that count as conversions")
    rate_per_s: float = Field(5, gt=0, le=1000, description="messages sent per second at most (SMS, email)")
    reply_window_h: float = Field(72, gt=0, le=24 * 30, description="a customer's message within this after a "
                                  "campaign message is a reply to the campaign")

    @field_validator("template", "subject")
    @classmethod
    def _placeholders(cls, value: str) -> str:
        try:
            template_fields(value)
        except ValueError as exc:
            raise ValueError(f"malformed placeholder: {exc}") from None
        return value

    @model_validator(mode="after")
    def _channel_needs(self) -> CampaignSettings:
        if self.channel == "voice" and self.queue is None:
            raise ValueError("a voice campaign needs a queue (its agents take the calls)")
        if self.channel != "voice" and not self.template.strip():
            raise ValueError(f"a {self.channel} campaign needs a template")
        if self.channel == "email" and not self.subject.strip():
            raise ValueError("an email campaign needs a subject")
        return self


class OutboundSection(StrictModel):
    """Rules every campaign keeps, whatever its own settings."""

    max_per_week: int = Field(3, ge=1, le=100, description="contacts per customer in any 7 days, all campaigns")
    quiet_start: time = Field(time(21, 0), description="no campaign reaches anyone from this local time ...")
    quiet_end: time = Field(time(8, 0), description="... to this one")
    default_time_zone: TimeZoneName = Field("Asia/Shanghai", description="for a customer whose zone is not known")
    tick_s: float = Field(0.5, gt=0, le=60, description="how often the dialer looks for work")
