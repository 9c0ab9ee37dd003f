"""The cases' settings in cic.toml: departments, and per category its department, SLA and
status workflow. Validated at start-up like everything else in the file."""

from __future__ import annotations

import re
import string
from typing import Literal

from pydantic import Field, field_validator, model_validator

from .routing import Name, StrictModel

# The statuses the engine gives a meaning to; a category's workflow may add its own between them.
NEW, IN_PROGRESS, WAITING, RESOLVED, CLOSED = "new", "in_progress", "waiting_for_customer", "resolved", "closed"
DEFAULT_TRANSITIONS = {
    NEW: [IN_PROGRESS, WAITING, RESOLVED],
    IN_PROGRESS: [WAITING, RESOLVED],
    WAITING: [IN_PROGRESS, RESOLVED],
    RESOLVED: [IN_PROGRESS, CLOSED],  # back to in progress: reopened
    CLOSED: [],
}


def check_placeholders(value: str, known: tuple[str, ...]) -> str:
    """A template whose {placeholders} are all known (checked at start-up, not when it is sent)."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(value) if f is not None]
    except ValueError as exc:
        raise ValueError(f"bad placeholder syntax ({exc}); write {{{{ and }}}} for literal braces") from None
    unknown = sorted(set(fields) - set(known))
    if unknown:
        raise ValueError(f"unknown placeholder(s) {unknown}; known: {', '.join(known)}")
    return value


NOTICE_PLACEHOLDERS = ("case", "title", "customer_name", "question", "resolution")


class NoticeTexts(StrictModel):
    """The notices in one language; one left out falls back to the default's."""

    opened: str | None = None
    question: str | None = None
    resolved: str | None = None

    @field_validator("opened", "question", "resolved")
    @classmethod
    def _placeholders(cls, value: str | None) -> str | None:
        return None if value is None else check_placeholders(value, NOTICE_PLACEHOLDERS)


class CaseNotices(StrictModel):
    """What the customer is told, on the channel of the case's latest interaction, in the language
    they write in (`languages`), else in the default words."""

    opened: str | None = "We have opened case #{case} ({title}) for you and will keep you informed."
    question: str | None = "About your case #{case}: {question} Please reply to this message."
    resolved: str | None = ("Your case #{case} ({title}) is resolved: {resolution} If something is still wrong, "
                            "just reply to this message.")
    after_call: list[Literal["sms", "email"]] = Field(
        default_factory=lambda: ["sms", "email"], description="channels tried, in order, when the case came by "
        "phone or fax")
    languages: dict[Literal["en", "zh-CN"], NoticeTexts] = Field(
        default_factory=lambda: {"zh-CN": NoticeTexts(
            opened="我们已为您创建工单 #{case}（{title}），会随时告知您进展。",
            question="关于您的工单 #{case}：{question} 请直接回复本消息。",
            resolved="您的工单 #{case}（{title}）已解决：{resolution} 如仍有问题，请直接回复本消息。")},
        description='the notices per customer language, e.g. [cases.notify.languages."zh-CN"]')

    def text(self, what: str, language: str | None) -> str | None:
        """The template for `what` in the customer's language, else the default one."""
        own = self.languages.get(language) if language else None  # type: ignore[call-overload]
        default = getattr(self, what)
        if default is None:
            return None  # turned off
        return (getattr(own, what) if own is not None else None) or default

    @field_validator("opened", "question", "resolved")
    @classmethod
    def _placeholders(cls, value: str | None) -> str | None:
        return None if value is None else check_placeholders(value, NOTICE_PLACEHOLDERS)


class Department(StrictModel):
    name: Name
    title: str = Field(min_length=1, max_length=200)
    escalate_to: str | None = Field(None, description="login a breached case is reassigned to (a lead of the "
                                    "department); unset: it stays with its owner")


class CaseCategory(StrictModel):
    name: Name
    title: str = Field(min_length=1, max_length=200)
    department: Name
    sla_h: float = Field(48, gt=0, le=24 * 365, description="hours from opening to the due date (paused time "
                         "not counted)")
    warn_at: float = Field(0.75, gt=0, lt=1, description="share of the SLA after which the case is in warning")
    transitions: dict[str, list[str]] = Field(default_factory=lambda: {k: list(v) for k, v in
                                                                       DEFAULT_TRANSITIONS.items()},
                                              description="status -> the statuses it may move to")
    paused: list[str] = Field(default_factory=lambda: [WAITING], description="statuses in which the SLA "
                              "clock stops (the customer has the ball)")
    reopen_within_h: float = Field(72, ge=0, le=24 * 365, description="a customer reply this soon after "
                                   "resolution reopens the case")

    @model_validator(mode="after")
    def _workflow(self) -> CaseCategory:
        statuses = set(self.transitions) | {s for targets in self.transitions.values() for s in targets}
        missing = {NEW, RESOLVED, CLOSED} - set(self.transitions)
        if missing:
            raise ValueError(f"transitions must list the statuses {sorted(missing)} (the engine's own)")
        unknown = statuses - set(self.transitions)
        if unknown:
            raise ValueError(f"statuses {sorted(unknown)} are moved to but have no entry of their own in transitions")
        if set(self.paused) - statuses:
            raise ValueError(f"paused names statuses not in the workflow: {sorted(set(self.paused) - statuses)}")
        if self.transitions[CLOSED]:
            raise ValueError("closed is final: its transitions must be []")
        return self

    @property
    def sla_s(self) -> float:
        return self.sla_h * 3600

    def can_move(self, status: str, to: str) -> bool:
        return to in self.transitions.get(status, [])


class CaseRule(StrictModel):
    """Open a case by itself for a new interaction that matches every condition given."""

    category: Name
    severity: str = "normal"
    channel: Literal["voice", "email", "sms", "chat", "fax"] | None = None
    endpoint: str | None = Field(None, description="our address it came to (e.g. complaints@...), any case")
    metadata: dict[str, str] = Field(default_factory=dict, description="message metadata key -> regular "
                                     "expression its value must match whole (e.g. ivr = '.*complaint.*')")

    @field_validator("metadata")
    @classmethod
    def _patterns(cls, value: dict[str, str]) -> dict[str, str]:
        for key, pattern in value.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{key}: not a regular expression ({exc})") from None
        return value

    def matches(self, channel: str, endpoint: str, metadata: dict[str, str]) -> bool:
        return ((self.channel is None or self.channel == channel)
                and (self.endpoint is None or self.endpoint.lower() == endpoint.lower())
                and all(re.fullmatch(p, metadata.get(k, ""), re.DOTALL) for k, p in self.metadata.items()))


class CasesSection(StrictModel):
    departments: list[Department] = Field(default_factory=list)
    categories: list[CaseCategory] = Field(default_factory=list)
    severities: list[str] = Field(default_factory=lambda: ["low", "normal", "high", "critical"])
    notify: CaseNotices = Field(default_factory=CaseNotices)
    rules: list[CaseRule] = Field(default_factory=list, description="cases opened by themselves, first match wins")
    sla_check_s: float = Field(30, gt=0, le=3600, description="how often SLA timers are checked")

    @model_validator(mode="after")
    def _departments_exist(self) -> CasesSection:
        known = {d.name for d in self.departments}
        for category in self.categories:
            if category.department not in known:
                raise ValueError(f"category {category.name!r}: no department named {category.department!r}")
        categories = {c.name for c in self.categories}
        for n, rule in enumerate(self.rules):
            if rule.category not in categories:
                raise ValueError(f"rules[{n}]: no category named {rule.category!r}")
            if rule.severity not in self.severities:
                raise ValueError(f"rules[{n}]: severity must be one of {', '.join(self.severities)}")
        return self

    @field_validator("categories")
    @classmethod
    def _unique(cls, value: list[CaseCategory]) -> list[CaseCategory]:
        names = [c.name for c in value]
        if len(names) != len(set(names)):
            raise ValueError("category names must be unique")
        return value

    def category(self, name: str) -> CaseCategory | None:
        return next((c for c in self.categories if c.name == name), None)
