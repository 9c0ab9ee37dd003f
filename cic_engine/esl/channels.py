"""What a resync reads: the live channels of a switch (`show channels as json`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from .protocol import ESLProtocolError


@dataclass(frozen=True)
class LiveChannel:
    uuid: str
    direction: str  # inbound (a caller) or outbound (a leg we originated)
    name: str
    state: str  # CS_EXECUTE, ...
    callstate: str  # RINGING, ACTIVE, HELD, ...
    caller_number: str
    caller_name: str
    destination: str
    context: str  # the dialplan context the call runs in
    application: str
    created: datetime | None
    call_uuid: str  # the call this leg belongs to, when bridged or originated together


def parse_show_channels(output: str) -> list[LiveChannel]:
    """The rows of `show channels as json`. An empty switch answers {"row_count": 0} without
    rows; an error (`-ERR ...`) raises."""
    text = output.strip()
    if text.startswith("-ERR"):
        raise ESLProtocolError(f"show channels failed: {text[:200]}")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ESLProtocolError(f"show channels is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ESLProtocolError("show channels is not a JSON object")
    rows = data.get("rows") or []
    if not isinstance(rows, list) or len(rows) != int(data.get("row_count", len(rows))):
        raise ESLProtocolError("show channels: row_count does not match the rows")
    return [_channel(row) for row in rows]


def _channel(row: dict) -> LiveChannel:
    if not isinstance(row, dict) or not row.get("uuid"):
        raise ESLProtocolError(f"show channels: a row without uuid: {str(row)[:200]}")
    epoch = row.get("created_epoch") or ""
    return LiveChannel(
        uuid=row["uuid"], direction=row.get("direction", ""), name=row.get("name", ""), state=row.get("state", ""),
        callstate=row.get("callstate", ""), caller_number=row.get("cid_num", ""), caller_name=row.get("cid_name", ""),
        destination=row.get("dest", ""), context=row.get("context", ""), application=row.get("application", ""),
        created=datetime.fromtimestamp(int(epoch), UTC) if epoch.isdigit() else None,
        call_uuid=row.get("call_uuid", ""),
    )
