import json

from cic_engine.models import InboundContact
from cic_engine.schemas import SCHEMA_DIR, render_schemas


def test_committed_json_schemas_match_the_models():
    rendered = render_schemas()
    on_disk = {p.name: p.read_text(encoding="utf-8") for p in SCHEMA_DIR.glob("*.json")}
    stale = sorted(name for name in rendered if on_disk.get(name) != rendered[name])
    extra = sorted(set(on_disk) - set(rendered))
    assert not stale and not extra, f"run `make schemas`: stale {stale}, no longer generated {extra}"


def test_the_inbound_contact_schema_describes_what_adapters_send():
    schema = json.loads((SCHEMA_DIR / "InboundContact.json").read_text())
    assert set(schema["required"]) == {"channel", "endpoint", "external_id", "sender"}
    example = {"channel": "sms", "endpoint": "+8610086", "external_id": "x1", "sender": "13800138000"}
    assert InboundContact.model_validate(example).channel == "sms"
