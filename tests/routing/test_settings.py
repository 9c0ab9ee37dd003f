"""Routing settings in cic.toml: a mistake names the file, the key and the problem."""

from __future__ import annotations

import textwrap

import pytest

from cic_engine.config import ConfigError, load_config

GENERAL = '[[queues]]\nname = "general"\n'


@pytest.mark.parametrize(
    ("toml", "key", "fragment"),
    [
        ('[[queues]]\nname = "general"\nstrategy = "random"\n', "queues[0].strategy", "Input should be"),
        ('[[queues]]\nname = "general"\nskills = { billing = 11 }\n', "queues[0].skills.billing", "less than or equal to 10"),
        ('[[queues]]\nname = "general"\ncapacity = { pigeon = 2 }\n', "queues[0].capacity.pigeon", "Input should be"),
        ('[[queues]]\nname = "general"\nhours = { timezone = "Mars/Olympus" }\n', "queues[0].hours.timezone",
         "unknown time zone"),
        ('[[queues]]\nname = "general"\nhours = { mon = ["18:00-09:00"] }\n', "queues[0].hours.mon", "ends before it starts"),
        ('[[queues]]\nname = "general"\nhours = { mon = ["9-5"] }\n', "queues[0].hours.mon", "is not HH:MM-HH:MM"),
        ('[[queues]]\nname = "general"\nafter_hours = { action = "queue" }\n', "queues[0].after_hours",
         "queue is required"),
        ('[[queues]]\nname = "general"\n[[queues.overflow]]\nafter_s = 60\naction = "move-to-queue"\n',
         "queues[0].overflow[0]", "queue is required"),
        ('[[queues]]\nname = "general"\n[[queues.overflow]]\nafter_s = 60\naction = "relax-skills"\n'
         '[[queues.overflow]]\nafter_s = 30\naction = "voicemail"\n', "queues[0].overflow", "in order of after_s"),
        ('[[queues]]\nname = "general"\n[[queues.overflow]]\nafter_s = 60\naction = "add-queue"\nqueue = "nowhere"\n',
         "queues[0].overflow[0].queue", "no queue named 'nowhere'"),
        ('[[queues]]\nname = "general"\nafter_hours = { action = "queue", queue = "general" }\n',
         "queues[0].after_hours.queue", "cannot overflow into itself"),
        ('[[queues]]\nname = "general"\nchannels = ["email"]\nstrategy = "ring-all"\n', "queues[0].strategy",
         "ring-all needs a queue that takes voice"),
        (GENERAL + '[routing]\nmax_missed_offers = 0\n', "routing.max_missed_offers", "greater than or equal to 1"),
        (GENERAL + '[routing]\ntier_bonus_s = { platinum = 10 }\n', "routing.tier_bonus_s.platinum", "Input should be"),
        (GENERAL + '[[agents]]\nlogin = "al"\nname = "Al"\ncapacity = { chat = -1 }\n', "agents[0].capacity.chat",
         "greater than or equal to 0"),
    ],
)
def test_bad_routing_settings_are_explained(tmp_path, toml, key, fragment):
    (tmp_path / "channels").mkdir()
    (tmp_path / "cic.toml").write_text(textwrap.dedent(toml), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "cic.toml", {})
    found = [str(p) for p in info.value.problems]
    assert any(p.startswith(f"{tmp_path}/cic.toml: {key}: ") and fragment in p for p in found), found


def test_agent_capacity_merges_over_the_routing_defaults():
    from cic_engine.config import CicConfig

    cic = CicConfig.model_validate({"routing": {"capacity": {"chat": 4}},
                                    "agents": [{"login": "al", "name": "Al", "capacity": {"email": 9}}]})
    assert cic.routing.caps_for(cic.agents[0]) == [1, 9, 3, 4, 5]  # voice, email, sms, chat, fax
