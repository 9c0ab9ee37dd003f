"""The satisfaction surveys' settings in cic.toml ([csat])."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .routing import StrictModel


class CsatSection(StrictModel):
    after: list[Literal["interaction", "case"]] = Field(default_factory=list, description="when to ask: after an "
                                                        "interaction an agent handled, after a case's resolution")
    channels: list[Literal["email", "sms", "chat", "voice"]] = Field(
        default_factory=lambda: ["email", "sms", "chat", "voice"], description="where surveys are asked")
    question: str = Field("How satisfied are you with our help? Reply with a number from 1 (poor) to 5 (excellent).",
                          min_length=1, max_length=500)
    questions: dict[Literal["en", "zh-CN"], str] = Field(
        default_factory=lambda: {"zh-CN": "您对我们的服务满意吗？请回复 1（很差）到 5（很好）之间的数字。"},
        description="the question per customer language; others get `question`")
    answer_within_h: float = Field(72, gt=0, le=24 * 30)
    voice_prompt: str = Field("ivr/ivr-csat.wav", description="played to a caller after the agent hangs up; the "
                              "key pressed (1-5) is the score")
