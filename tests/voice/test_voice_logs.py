"""With --log-format json (CIC_LOG_FORMAT), the engine's log is one JSON object per line, and a
call's lines carry its call id and, once known, its interaction id."""

from __future__ import annotations

import json

import pytest

from tests.voice.conftest import interaction, wait_for

pytestmark = pytest.mark.timeout(120)


def test_a_calls_log_lines_carry_its_ids(start_engine, switch, routing, store, tmp_path, monkeypatch):
    monkeypatch.setenv("CIC_LOG_FORMAT", "json")
    monkeypatch.setenv("CIC_LOG_LEVEL", "DEBUG")
    engine = start_engine("")
    call = switch.call(engine["outbound"], "+86 138 0013 8000")
    item = wait_for(lambda: interaction(store, call.uuid), what="the call queued")
    call.hang_up()
    call.wait()
    wait_for(lambda: f'"interaction_id": {item["id"]}' in (tmp_path / "engine.log").read_text(), what="the call's lines")
    lines = [json.loads(line) for line in (tmp_path / "engine.log").read_text().splitlines() if line.startswith("{")]
    mine = [x for x in lines if x.get("call_id") == call.uuid]
    assert mine and all(x["adapter"] == "pbx" for x in mine)
    assert any(x.get("interaction_id") == item["id"] for x in mine)
    assert all({"at", "level", "logger", "message"} <= set(x) for x in lines)
