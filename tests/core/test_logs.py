"""JSON logs: one object per line, with the ids a line is about; the ids bound for one greenlet
never show up in another's lines."""

from __future__ import annotations

import io
import json
import logging

import gevent

from cic_engine import logs


def capture() -> tuple[logging.Logger, io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.JsonFormatter(node="node-7"))
    logger = logging.getLogger("cic_engine.test_logs")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger, out


def test_each_line_is_json_with_the_ids_of_its_greenlet():
    logger, out = capture()

    def call(uuid: str, interaction: int) -> None:
        logs.bind(call_id=uuid)
        logger.info("answered")
        gevent.sleep(0.01)  # the other call runs meanwhile
        logs.bind(interaction_id=interaction)
        logger.info("queued %s", "now")
    gevent.joinall([gevent.spawn(call, "uuid-a", 1), gevent.spawn(call, "uuid-b", 2)])
    with logs.bound(outbox_id=9):
        logger.warning("sent", extra={"interaction_id": 3})
    logger.info("free of ids")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert {(x["message"], x.get("call_id"), x.get("interaction_id")) for x in lines[:4]} == {
        ("answered", "uuid-a", None), ("answered", "uuid-b", None),
        ("queued now", "uuid-a", 1), ("queued now", "uuid-b", 2)}
    assert (lines[4]["outbox_id"], lines[4]["interaction_id"], lines[4]["level"]) == (9, 3, "WARNING")
    assert "outbox_id" not in lines[5] and lines[5]["node"] == "node-7" and lines[5]["logger"] == "cic_engine.test_logs"
