"""IVR menus: choices, invalid keys and silence, sub-menus, self-service, and config mistakes."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cic_engine.adapters.voice.ivr import DIGIT_VARIABLE, IvrConfig, run_ivr

MENUS = {
    "start": "main",
    "menus": {
        "main": {"prompt": "ivr/main.wav", "retries": 3,
                 "choices": {"1": {"queue": "billing", "skills": {"billing": 5}},
                             "2": {"play": "ivr/opening-hours.wav"},
                             "9": {"menu": "language"}},
                 "otherwise": {"queue": "general"}},
        "language": {"prompt": "ivr/language.wav", "choices": {"1": {"queue": "general", "language": "zh"},
                                                               "2": {"queue": "general", "language": "en"}}},
    },
}


class ScriptedCaller:
    """Presses the scripted keys, one per prompt ('' = says nothing)."""

    def __init__(self, keys):
        self.keys = list(keys)
        self.apps = []

    def run(self, app, arg="", timeout=None):
        self.apps.append((app, arg))
        if app == "play_and_get_digits":
            key = self.keys.pop(0) if self.keys else ""
            return {f"variable_{DIGIT_VARIABLE}": key} if key else {}
        return {}


def ivr(**changes):
    return IvrConfig.model_validate({**MENUS, **changes})


def test_a_choice_routes_to_its_queue_with_skills():
    outcome = run_ivr(ScriptedCaller("1"), ivr())
    assert (outcome.choice.queue, outcome.choice.skills, outcome.path) == ("billing", {"billing": 5}, ["main:1"])


def test_an_invalid_key_plays_the_invalid_prompt_and_asks_again():
    caller = ScriptedCaller(["7", "", "1"])
    outcome = run_ivr(caller, ivr())
    assert outcome.path == ["main:7 invalid", "main:no input", "main:1"]
    assert [a for a, _ in caller.apps] == ["play_and_get_digits", "playback", "play_and_get_digits", "play_and_get_digits"]
    assert caller.apps[1][1] == "ivr/ivr-that_was_an_invalid_entry.wav"


def test_after_the_retries_the_caller_goes_where_the_menu_says():
    outcome = run_ivr(ScriptedCaller(["7", "8", "0"]), ivr())
    assert outcome.choice.queue == "general" and outcome.path[-1] == "main:retries exhausted"


def test_a_sub_menu_chooses_the_language():
    outcome = run_ivr(ScriptedCaller("91"), ivr())
    assert (outcome.choice.queue, outcome.choice.language, outcome.path) == ("general", "zh", ["main:9", "language:1"])


def test_self_service_plays_the_recording():
    caller = ScriptedCaller("2")
    outcome = run_ivr(caller, ivr())
    assert outcome.choice.play == "ivr/opening-hours.wav"
    assert caller.apps[-1] == ("playback", "ivr/opening-hours.wav")


@pytest.mark.parametrize(("changes", "fragment"), [
    ({"start": "nowhere"}, "start menu 'nowhere' is not defined"),
    ({"menus": {"main": {"prompt": "p", "choices": {"1": {"menu": "ghost"}}}}}, "undefined menu 'ghost'"),
    ({"menus": {"main": {"prompt": "p", "choices": {"12": {"queue": "q"}}}}}, "choice keys must be"),
    ({"menus": {"main": {"prompt": "p", "choices": {"1": {"queue": "q", "play": "x"}}}}}, "exactly one of"),
])
def test_menu_mistakes_are_refused_with_a_reason(changes, fragment):
    with pytest.raises(ValidationError, match=fragment):
        ivr(**changes)
