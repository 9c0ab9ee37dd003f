"""The Prometheus `/metrics` endpoint (prometheus-client): queue and agent figures read from the
database at scrape time (every node sees the whole center, so label queries by `node` or take
one), and this node's adapters, ESL links and database pool."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

import psycopg
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from werkzeug.wrappers import Response

from .store import metrics as store_metrics
from .store import rejected as store_rejected

if TYPE_CHECKING:
    from .adapters import ChannelAdapter
    from .store import Store

log = logging.getLogger(__name__)


class CenterCollector:
    """The node hands in its name, its store, and its adapters (and those that failed to start),
    as live mappings: a reload changes them in place."""

    def __init__(self, node: str, store: Store, adapters: Mapping[str, ChannelAdapter],
                 adapter_failures: Mapping[str, str]):
        self.node = node
        self.store = store
        self.adapters = adapters
        self.adapter_failures = adapter_failures

    def collect(self) -> Iterator[Metric]:
        node = self.node
        yield from self._database(node)
        yield from self._adapters(node)

    def _database(self, node: str) -> Iterator[Metric]:
        store = self.store
        if store is None:
            return
        stats = store.pool.get_stats()
        pool = GaugeMetricFamily("cic_db_pool_connections", "Database pool connections", labels=["node", "kind"])
        pool.add_metric([node, "size"], stats.get("pool_size", 0))
        pool.add_metric([node, "available"], stats.get("pool_available", 0))
        pool.add_metric([node, "waiting_requests"], stats.get("requests_waiting", 0))
        yield pool
        try:
            with store.transaction(timeout=2.0) as conn:
                queues = store_metrics.queues(conn)
                states = store_metrics.agent_states(conn)
                rejected = store_rejected.counts(conn)
        except (psycopg.Error, OSError) as exc:
            log.warning("metrics: database unavailable (%s)", exc)
            up = GaugeMetricFamily("cic_db_up", "Whether the database answered this scrape", labels=["node"])
            up.add_metric([node], 0)
            yield up
            return
        up = GaugeMetricFamily("cic_db_up", "Whether the database answered this scrape", labels=["node"])
        up.add_metric([node], 1)
        yield up
        labels = ["queue", "channel"]
        waiting = GaugeMetricFamily("cic_queue_waiting", "Interactions waiting or offered", labels=labels)
        oldest = GaugeMetricFamily("cic_queue_oldest_wait_seconds", "Wait of the oldest waiting interaction",
                                   labels=labels)
        offered = CounterMetricFamily("cic_interactions_offered", "Interactions that entered the queue", labels=labels)
        answered = CounterMetricFamily("cic_interactions_answered", "Interactions an agent accepted", labels=labels)
        abandoned = CounterMetricFamily("cic_interactions_abandoned", "Customers who left while waiting",
                                        labels=labels)
        handle = HistogramMetricFamily("cic_handle_time_seconds", "Answered to closed (talk, hold, wrap-up)",
                                       labels=labels)
        for q in queues:
            key = [q.queue, q.channel]
            waiting.add_metric(key, q.waiting)
            oldest.add_metric(key, q.oldest_wait_s)
            offered.add_metric(key, q.offered)
            answered.add_metric(key, q.answered)
            abandoned.add_metric(key, q.abandoned)
            handle.add_metric(key, [(str(b), n) for b, n in zip(store_metrics.HANDLE_BUCKETS_S, q.handle_buckets,
                                                                  strict=True)] + [("+Inf", q.handled)],
                              q.handle_sum_s)
        yield from (waiting, oldest, offered, answered, abandoned, handle)
        agents = GaugeMetricFamily("cic_agents", "Agents by state", labels=["state"])
        for state, n in sorted(states.items()):
            agents.add_metric([state], n)
        yield agents
        waiting_rejected = GaugeMetricFamily("cic_rejected_contacts", "Contacts a channel could not take in, "
                                             "waiting for a person to re-ingest them", labels=["channel", "adapter"])
        for (channel, adapter), n in sorted(rejected.items()):
            waiting_rejected.add_metric([channel, adapter], n)
        yield waiting_rejected

    def _adapters(self, node: str) -> Iterator[Metric]:
        up = GaugeMetricFamily("cic_adapter_up", "Adapter health (1 ok)", labels=["node", "adapter", "kind"])
        errors = GaugeMetricFamily("cic_adapter_error", "1 while the adapter reports an error", labels=[
            "node", "adapter", "kind"])
        connects = CounterMetricFamily("cic_esl_connects", "Connections made to FreeSWITCH's event socket",
                                       labels=["node", "adapter"])
        for name, adapter in self.adapters.items():
            try:
                health = adapter.health()
            except Exception:  # a broken health check is a down adapter, not a failed scrape
                log.exception("metrics: health of %s failed", name)
                up.add_metric([node, name, adapter.kind], 0)
                continue
            up.add_metric([node, name, adapter.kind], 1 if health.ok else 0)
            errors.add_metric([node, name, adapter.kind], 1 if health.last_error else 0)
            esl = getattr(adapter, "esl", None)
            if esl is not None:
                connects.add_metric([node, name], esl.connects)
        for name in self.adapter_failures:
            up.add_metric([node, name, "unknown"], 0)
            errors.add_metric([node, name, "unknown"], 1)
        yield from (up, errors, connects)


def metrics_endpoint(collector: CenterCollector):
    registry = CollectorRegistry()
    registry.register(collector)

    def serve(request) -> Response:
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
    return serve
