"""The configured queues with their database ids, as the router and its API look them up."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..config import CicConfig
from ..settings.routing import QueueConfig
from ..store import Store
from ..store.directory import queues_by_name


@dataclass(frozen=True)
class QueueDirectory:
    by_id: dict[int, QueueConfig] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)

    def named(self, name: str) -> tuple[int, QueueConfig]:
        queue_id = self.ids[name]
        return queue_id, self.by_id[queue_id]

    @classmethod
    def load(cls, store: Store, cic: CicConfig) -> QueueDirectory:
        with store.transaction() as conn:
            rows = queues_by_name(conn)
        configured = {q.name: q for q in cic.queues}
        # Queues gone from the config keep their rows (old interactions refer to them) but route nothing.
        return cls(
            by_id={r.id: configured[name] for name, r in rows.items() if name in configured},
            ids={name: r.id for name, r in rows.items() if name in configured},
        )
