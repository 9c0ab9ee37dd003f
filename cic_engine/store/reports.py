"""Reports on cases and satisfaction, for supervisors: explicit SQL over cases, surveys and the
timeline, computed at request time (the tables are indexed for them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from . import Conn


def _rows(conn: Conn, sql: str, params: dict) -> list[dict[str, Any]]:
    cur = conn.execute(sql, params)
    names = [d.name for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def cases_report(conn: Conn, since: datetime, now: datetime) -> dict[str, Any]:
    p = {"since": since, "now": now}
    open_by_department = _rows(conn, """
        SELECT d.name AS department, count(*) AS open,
               count(*) FILTER (WHERE %(now)s - c.opened_at < interval '1 day') AS under_1d,
               count(*) FILTER (WHERE %(now)s - c.opened_at >= interval '1 day'
                                  AND %(now)s - c.opened_at < interval '3 days') AS d1_to_3,
               count(*) FILTER (WHERE %(now)s - c.opened_at >= interval '3 days'
                                  AND %(now)s - c.opened_at < interval '7 days') AS d3_to_7,
               count(*) FILTER (WHERE %(now)s - c.opened_at >= interval '7 days') AS over_7d,
               count(*) FILTER (WHERE c.breached_at IS NOT NULL) AS breached
        FROM cases c JOIN departments d ON d.id = c.department_id
        WHERE c.resolved_at IS NULL AND c.closed_at IS NULL GROUP BY d.name ORDER BY d.name""", p)
    breaches = _rows(conn, """
        SELECT c.id, c.category, d.name AS department, c.due_at, c.breached_at, c.status
        FROM cases c JOIN departments d ON d.id = c.department_id
        WHERE c.breached_at >= %(since)s ORDER BY c.breached_at""", p)
    by_category = _rows(conn, """
        SELECT c.category, count(*) AS resolved,
               round(avg(extract(epoch FROM c.resolved_at - c.opened_at)) / 3600, 2) AS avg_hours_to_resolve,
               round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM c.resolved_at - c.opened_at))
                      / 3600)::numeric, 2) AS median_hours_to_resolve,
               count(*) FILTER (WHERE c.reopened > 0) AS reopened,
               round(count(*) FILTER (WHERE c.reopened > 0)::numeric / count(*), 3) AS reopen_rate
        FROM cases c WHERE c.resolved_at >= %(since)s GROUP BY c.category ORDER BY c.category""", p)
    return {"since": since, "now": now, "open_by_department": open_by_department, "sla_breaches": breaches,
            "resolution_by_category": by_category, "csat": csat_report(conn, since)}


def csat_report(conn: Conn, since: datetime) -> dict[str, Any]:
    p = {"since": since}
    base = """count(*) AS answers, round(avg(s.score), 2) AS average,
              count(*) FILTER (WHERE s.score >= 4) AS satisfied"""
    return {
        "asked": conn.execute("SELECT count(*) FROM surveys WHERE asked_at >= %(since)s", p).fetchone()[0],
        "by_agent": _rows(conn, f"""SELECT a.login AS agent, {base} FROM surveys s JOIN agents a ON a.id = s.agent_id
                                   WHERE s.answered_at >= %(since)s GROUP BY a.login ORDER BY a.login""", p),  # noqa: S608
        "by_queue": _rows(conn, f"""SELECT q.name AS queue, {base} FROM surveys s JOIN queues q ON q.id = s.queue_id
                                   WHERE s.answered_at >= %(since)s GROUP BY q.name ORDER BY q.name""", p),  # noqa: S608
        "by_category": _rows(conn, f"""SELECT s.category, {base} FROM surveys s
                                      WHERE s.answered_at >= %(since)s AND s.category IS NOT NULL
                                      GROUP BY s.category ORDER BY s.category""", p),  # noqa: S608
        "by_channel": _rows(conn, f"""SELECT s.channel, {base} FROM surveys s WHERE s.answered_at >= %(since)s
                                     GROUP BY s.channel ORDER BY s.channel""", p),  # noqa: S608
    }
