"""Logging set-up: text for people, or one JSON object per line for log pipelines, carrying the
ids of what a line is about (interaction, call, case, outbox message) that the code handling it
bound for its greenlet (greenlets have their own context, so ids never leak between calls)."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

_ids: ContextVar[dict[str, object] | None] = ContextVar("cic_log_ids", default=None)
ID_FIELDS = ("interaction_id", "call_id", "case_id", "outbox_id", "adapter")


@contextmanager
def bound(**ids: object) -> Iterator[None]:
    """Lines logged inside carry these ids (added to any bound outside)."""
    token = _ids.set({**(_ids.get() or {}), **{k: v for k, v in ids.items() if v is not None}})
    try:
        yield
    finally:
        _ids.reset(token)


def bind(**ids: object) -> None:
    """Add ids for the rest of this greenlet's work (a call's interaction, once it is known)."""
    _ids.set({**(_ids.get() or {}), **{k: v for k, v in ids.items() if v is not None}})


class JsonFormatter(logging.Formatter):
    def __init__(self, node: str | None = None):
        super().__init__()
        self.node = node

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage(),
        }
        if self.node:
            line["node"] = self.node
        line.update(_ids.get() or {})
        for field in ID_FIELDS:  # ids passed as logging's extra= win over the bound ones
            if hasattr(record, field):
                line[field] = getattr(record, field)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def setup(level: str, fmt: str = "text", node: str | None = None) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter(node))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # pikepdf (under img2pdf, for fax pages) greets at INFO when imported: a line on every
    # command that says nothing to an operator. Its warnings still show.
    logging.getLogger("pikepdf").setLevel(max(logging.WARNING, root.level))
