"""JSON Schemas of the public models, written to schemas/json/ and checked for staleness in tests."""

from __future__ import annotations

import json
from pathlib import Path

from .config import CicConfig
from .models import PUBLIC_MODELS
from .routing.events import RoutingEvent
from .settings.outbound import CampaignSettings

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schemas" / "json"


def render_schemas() -> dict[str, str]:
    models = (*PUBLIC_MODELS, RoutingEvent, CicConfig, CampaignSettings)
    return {
        f"{model.__name__}.json": json.dumps(model.model_json_schema(), indent=2, sort_keys=True) + "\n"
        for model in models
    }


def write_schemas(out: Path = SCHEMA_DIR) -> list[str]:
    out.mkdir(parents=True, exist_ok=True)
    changed = []
    for name, text in render_schemas().items():
        path = out / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(name)
    return changed
