"""What the KPI report reads: each interaction queued in a range as the timeline tells it, and
each agent's staffed periods from their state changes (kpi/report.py computes the rest)."""

from __future__ import annotations

from datetime import datetime

from ..kpi.report import Fact, Staffing
from . import Conn


def facts(conn: Conn, start: datetime, end: datetime, fcr_days: float) -> list[Fact]:
    rows = conn.execute(
        """SELECT i.id, q.name, i.channel, i.queued_at, i.answered_at,
                  (SELECT min(t.at) FROM timeline_events t WHERE t.interaction_id = i.id
                     AND t.kind IN ('wrap_up', 'closed') AND t.at >= i.answered_at),
                  i.closed_at, i.outcome,
                  (SELECT a.login FROM timeline_events t JOIN agents a ON a.id = t.agent_id
                   WHERE t.interaction_id = i.id AND t.kind = 'accepted' ORDER BY t.id DESC LIMIT 1),
                  (SELECT count(*) FROM timeline_events t WHERE t.interaction_id = i.id AND t.kind = 'transferred'),
                  EXISTS (SELECT FROM interactions r WHERE r.customer_id = i.customer_id AND r.id <> i.id
                            AND r.created_at > i.created_at
                            AND r.created_at <= i.created_at + make_interval(secs => %(fcr)s * 86400))
           FROM interactions i JOIN queues q ON q.id = i.queue_id
           WHERE i.queued_at >= %(start)s AND i.queued_at < %(end)s
           ORDER BY i.queued_at, i.id""",
        {"start": start, "end": end, "fcr": fcr_days}).fetchall()
    return [Fact(*r) for r in rows]


def staffing(conn: Conn, start: datetime, end: datetime) -> list[Staffing]:
    """Each agent's staffed periods within the range, from their state changes (and the state
    they were in when it began)."""
    rows = conn.execute(
        """SELECT a.login, ARRAY(SELECT q.name FROM agent_queues aq JOIN queues q ON q.id = aq.queue_id
                                 WHERE aq.agent_id = a.id),
                  (SELECT t.data ->> 'to' FROM timeline_events t WHERE t.agent_id = a.id AND t.kind = 'agent_state'
                     AND t.at < %(start)s ORDER BY t.at DESC, t.id DESC LIMIT 1),
                  ARRAY(SELECT t.at FROM timeline_events t WHERE t.agent_id = a.id
                          AND t.kind = 'agent_state' AND t.at >= %(start)s AND t.at < %(end)s ORDER BY t.at, t.id),
                  ARRAY(SELECT t.data ->> 'to' FROM timeline_events t WHERE t.agent_id = a.id
                          AND t.kind = 'agent_state' AND t.at >= %(start)s AND t.at < %(end)s ORDER BY t.at, t.id)
           FROM agents a ORDER BY a.login""", {"start": start, "end": end}).fetchall()
    out = []
    for login, queues, before, times, states in rows:
        spans, since = [], start if before not in (None, "offline") else None
        for at, state in zip(times, states, strict=True):
            if state == "offline" and since is not None:
                spans.append((since, at))
                since = None
            elif state != "offline" and since is None:
                since = at
        if since is not None:
            spans.append((since, end))
        if spans:
            out.append(Staffing(login, tuple(queues), tuple(spans)))
    return out
