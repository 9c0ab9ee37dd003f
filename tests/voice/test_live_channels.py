"""Reading the switch's live channels for a resync, from what FreeSWITCH answered."""

from __future__ import annotations

from pathlib import Path

import pytest

from cic_engine.esl.channels import parse_show_channels
from cic_engine.esl.protocol import ESLProtocolError, FrameReader

CAPTURES = Path(__file__).resolve().parents[1] / "fakeswitch" / "captures"


def _api_outputs(name: str) -> list[str]:
    frames = FrameReader().feed((CAPTURES / name).read_bytes())
    return [f.body.decode() for f in frames if f.content_type == "api/response"]


def test_a_parked_call_is_listed_with_both_legs():
    show_channels = _api_outputs("api-edges.esl")[1]
    legs = parse_show_channels(show_channels)
    assert [leg.direction for leg in legs] == ["outbound", "inbound"]
    inbound = legs[1]
    assert (inbound.caller_number, inbound.destination, inbound.application, inbound.callstate) == \
        ("+8613800138000", "cap_park", "park", "ACTIVE")
    assert inbound.created is not None and inbound.created.year == 2026


def test_an_idle_switch_lists_nothing():
    assert parse_show_channels(_api_outputs("inbound-plain.esl")[1]) == []


@pytest.mark.parametrize("output", ["-ERR no reply\n", "not json", "[1, 2]", '{"row_count": 3, "rows": []}',
                                    '{"row_count": 1, "rows": [{"name": "x"}]}'])
def test_a_broken_listing_is_a_protocol_error(output):
    with pytest.raises(ESLProtocolError):
        parse_show_channels(output)
