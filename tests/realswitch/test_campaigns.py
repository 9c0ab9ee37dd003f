"""A predictive campaign through the real switch: customers dialled over `number_endpoint`, an
answering machine recognised by mod_avmd on its greeting's beep and left the campaign's
message, a person connected to the free agent."""

from __future__ import annotations

import pytest

from tests.outbound.conftest import rows, start_outbound, wait_rows  # noqa: F401 - start_outbound is the fixture
from tests.outbound.test_campaign_calls import CALL_ME, csv_of, outcomes
from tests.realswitch.conftest import voice_channel

pytestmark = pytest.mark.timeout(180)
PERSON, MACHINE = "+8613800138900", "+8613900138901"  # the test customers' context: +86139... is a machine


def test_a_machine_is_left_the_message_and_a_person_reaches_the_agent(start_outbound, fs, store):  # noqa: F811
    pbx = voice_channel(fs, extra='number_endpoint = "loopback/{number}/cic_customers/XML"\nring_s = 10\n')
    engine = start_outbound({"pbx": pbx}, agents=1)
    engine.available("alice")
    sue = engine.api("sue")
    campaign_id = engine.campaign(sue, csv_of([MACHINE, PERSON]), name="renewals", mode="predictive",
                                  machine_detection_s=4.0, voicemail_message="tone_stream://%(500,0,500)",
                                  retry_after_s={"voicemail": 7200}, **CALL_ME)
    assert sue.call("POST", f"/api/campaigns/{campaign_id}/start")[0] == 200
    wait_rows(store, "SELECT 1 FROM campaign_attempts WHERE outcome IS NOT NULL", count=2, timeout=60)
    assert dict(outcomes(store, campaign_id)) == {MACHINE: "voicemail", PERSON: "connected"}
    talked = rows(store, """SELECT a.login FROM interactions i JOIN agents a ON a.id = i.assigned_agent_id
                            WHERE i.campaign_id = %s""", campaign_id)
    assert talked == [("alice",)]
