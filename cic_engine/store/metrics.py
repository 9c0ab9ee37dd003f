"""What /metrics reads from the database at each scrape: the queues now, the interactions'
totals (monotonic, so Prometheus can take rates) and handle times, and the agents' states."""

from __future__ import annotations

from dataclasses import dataclass

from . import Conn

HANDLE_BUCKETS_S = (30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0)


@dataclass(frozen=True)
class QueueMetrics:
    queue: str
    channel: str
    waiting: int
    oldest_wait_s: float
    offered: int
    answered: int
    abandoned: int
    handled: int
    handle_sum_s: float
    handle_buckets: tuple[int, ...]  # cumulative counts at HANDLE_BUCKETS_S


def queues(conn: Conn) -> list[QueueMetrics]:
    buckets = ", ".join(
        f"count(*) FILTER (WHERE i.closed_at - i.answered_at <= make_interval(secs => {b}))" for b in HANDLE_BUCKETS_S)
    rows = conn.execute(
        f"""SELECT q.name, i.channel,
                   count(*) FILTER (WHERE i.state IN ('queued', 'offered')),
                   coalesce(extract(epoch FROM now() - min(i.queued_at) FILTER (WHERE i.state IN ('queued', 'offered'))), 0),
                   count(i.queued_at), count(i.answered_at), count(*) FILTER (WHERE i.outcome = 'abandoned'),
                   count(*) FILTER (WHERE i.answered_at IS NOT NULL AND i.closed_at IS NOT NULL),
                   coalesce(sum(extract(epoch FROM i.closed_at - i.answered_at)), 0), {buckets}
            FROM interactions i JOIN queues q ON q.id = i.queue_id
            GROUP BY q.name, i.channel ORDER BY q.name, i.channel""").fetchall()  # noqa: S608 - constant buckets
    return [QueueMetrics(r[0], r[1], r[2], float(r[3]), r[4], r[5], r[6], r[7], float(r[8]), tuple(r[9:]))
            for r in rows]


def agent_states(conn: Conn) -> dict[str, int]:
    return dict(conn.execute("SELECT state, count(*) FROM agents GROUP BY state").fetchall())
