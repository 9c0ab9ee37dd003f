"""The FreeSWITCH configuration we ship is well-formed and says what the README says."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

FREESWITCH = Path(__file__).resolve().parents[2] / "freeswitch"
FILES = sorted(FREESWITCH.rglob("*.xml"))


def test_there_is_configuration_to_install():
    assert {p.relative_to(FREESWITCH).as_posix() for p in FILES} == {
        "autoload_configs/event_socket.conf.xml", "dialplan/public/20_cic_voice.xml", "dialplan/public/10_cic_fax.xml",
        "directory/default/cic-agents.xml", "autoload_configs/xml_curl.conf.xml", "sip_profiles/cic_webcall.xml",
        "dialplan/cic_webcall.xml"}


def test_the_visitors_profile_asks_no_credentials_but_routes_only_tickets_to_the_engine():
    params = {p.get("name"): p.get("value") for p in ET.parse(FREESWITCH / "sip_profiles/cic_webcall.xml")
              .getroot().iter("param")}
    assert params["context"] == "cic_webcall" and params["auth-calls"] == "false"
    assert params["disable-register"] == "true" and params["ws-binding"] == "$${cic_webcall_ws}"
    context = ET.parse(FREESWITCH / "dialplan/cic_webcall.xml").getroot().find("context")
    assert context.get("name") == "cic_webcall"
    ticket, refused = context.findall("extension")
    assert ticket.find("condition").get("expression") == "^cic-([A-Za-z0-9_-]{16,64})$"
    actions = [(a.get("application"), a.get("data")) for a in ticket.iter("action")]
    assert ("set", "cic_web_call=$1") in actions and ("socket", "$${cic_engine_socket} async full") in actions
    assert [(a.get("application"), a.get("data")) for a in refused.iter("action")] == [("hangup", "CALL_REJECTED")]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_file_is_well_formed_xml(path):
    ET.parse(path)


def test_event_socket_listens_where_vars_xml_says_with_the_configured_password():
    params = {p.get("name"): p.get("value") for p in ET.parse(FREESWITCH / "autoload_configs/event_socket.conf.xml")
              .getroot().iter("param")}
    assert params["listen-ip"] == "$${cic_esl_ip}" and params["password"] == "$${cic_esl_password}"
    assert params["listen-port"] == "$${cic_esl_port}"


def test_every_inbound_extension_hands_the_call_to_the_engine_socket():
    root = ET.parse(FREESWITCH / "dialplan/public/20_cic_voice.xml").getroot()
    for extension in root.iter("extension"):
        actions = [(a.get("application"), a.get("data")) for a in extension.iter("action")]
        # marked as the engine's, and parked when the engine goes away, for the engine to take it back
        assert ("set", "cic_line=voice") in actions, extension.get("name")
        assert actions[-2:] == [("socket", "$${cic_engine_socket} async full"), ("park", None)], extension.get("name")
        # socket_resume would end a conversation going on when the engine's socket closes
        assert not any(data and data.startswith("socket_resume") for _, data in actions)


def test_fax_numbers_are_read_before_the_voice_catch_all():
    """FreeSWITCH reads a context's files in name order; the first matching extension wins."""
    names = sorted(p.name for p in (FREESWITCH / "dialplan/public").glob("*.xml"))
    assert names.index("10_cic_fax.xml") < names.index("20_cic_voice.xml")


def test_the_readme_names_every_variable_the_files_use():
    readme = (FREESWITCH / "README.md").read_text()
    used = set()
    for path in FILES:
        text = path.read_text()
        used |= {name for part in text.split("$${")[1:] if (name := part.split("}")[0]).startswith("cic_")}
    assert used == {"cic_esl_ip", "cic_esl_port", "cic_esl_password", "cic_engine_socket", "cic_agent_password",
                    "cic_fax_spool", "cic_fax_station_id", "cic_directory_url", "cic_directory_secret",
                    "cic_webcall_ip", "cic_webcall_sip_port", "cic_webcall_ws"}
    assert all(f"data=\"{name}=" in readme and f"`{name}`" in readme for name in used)


def test_fax_lines_receive_into_the_spool_file_the_fax_adapter_reads():
    root = ET.parse(FREESWITCH / "dialplan/public/10_cic_fax.xml").getroot()
    actions = [(a.get("application"), a.get("data")) for a in root.iter("action")]
    assert ("rxfax", "$${cic_fax_spool}/rx-${uuid}.tif") in actions
    assert actions.index(("answer", None)) < actions.index(("rxfax", "$${cic_fax_spool}/rx-${uuid}.tif"))
    # asking the peer for T.38 blocks every peer that never answers the re-INVITE
    assert ("set", "fax_enable_t38_request=true") not in actions


@pytest.mark.parametrize("key, value", [("agent_endpoint", "loopback/{login}"),
                                        ("number_endpoint", "loopback/{number}/customers")])
def test_a_loopback_endpoint_without_its_context_and_dialplan_is_refused(key, value):
    """Checked on the real switch: a leg the engine placed into its own socket runs the inline
    dialplan, and a loopback leg bridged from it took the number for an application name."""
    from pydantic import ValidationError

    from cic_engine.adapters.voice.config import VoiceConfig

    with pytest.raises(ValidationError, match="must name its context and dialplan"):
        VoiceConfig.model_validate({key: value})
    assert VoiceConfig.model_validate({key: value.split("/customers")[0] + "/customers/XML"})
