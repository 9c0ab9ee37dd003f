"""Campaign mistakes in cic.toml stop the engine with the file, the key and the problem."""

from __future__ import annotations

import textwrap

import pytest

from cic_engine.config import ConfigError, load_config


def problems(tmp_path, campaigns: str) -> list[str]:
    (tmp_path / "channels").mkdir(exist_ok=True)
    path = tmp_path / "cic.toml"
    path.write_text(textwrap.dedent("""\
        [[queues]]
        name = "general"
        """) + textwrap.dedent(campaigns))
    with pytest.raises(ConfigError) as refused:
        load_config(path, kinds={})
    return [f"{p.key}: {p.problem}" for p in refused.value.problems]


def test_campaign_mistakes_name_the_key_and_the_problem(tmp_path):
    found = problems(tmp_path, """\
        [[campaigns]]
        name = "calls"
        channel = "voice"
        queue = "sales"
        contacts_csv = "lists/missing.csv"
        [[campaigns]]
        name = "texts"
        channel = "sms"
        template = "Hi {name"
        [[campaigns]]
        name = "calls"
        channel = "voice"
        queue = "general"
        hours = { start = "20:00", end = "09:00" }
        max_abandon_rate = 0.9
        [outbound]
        default_time_zone = "Mars/Olympus"
        """)
    assert "outbound.default_time_zone: Value error, unknown time zone 'Mars/Olympus' (use an IANA name such as " \
           "Asia/Shanghai)" in found
    assert any(p.startswith("campaigns[1].template: Value error, malformed placeholder") for p in found)
    assert any(p.startswith("campaigns[2].hours: Value error, end (09:00) must be after start (20:00)") for p in found)
    assert any(p.startswith("campaigns[2].max_abandon_rate: Input should be less than or equal to 0.5") for p in found)


def test_campaigns_must_name_real_queues_and_files_and_be_unique(tmp_path):
    found = problems(tmp_path, """\
        [[campaigns]]
        name = "calls"
        channel = "voice"
        queue = "sales"
        contacts_csv = "lists/missing.csv"
        [[campaigns]]
        name = "calls"
        channel = "email"
        template = "Hello"
        subject = "News"
        """)
    assert found == ["campaigns[0].queue: no queue named 'sales'",
                     f"campaigns[0].contacts_csv: no such file: {tmp_path / 'lists/missing.csv'}",
                     "campaigns[1].name: duplicate campaign 'calls'"]


def test_a_message_campaign_needs_its_text(tmp_path):
    found = problems(tmp_path, """\
        [[campaigns]]
        name = "mail"
        channel = "email"
        template = "Hello"
        """)
    assert found == ["campaigns[0]: Value error, an email campaign needs a subject"]
