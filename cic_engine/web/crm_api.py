"""The screen pop's CRM panel: the results of the [[integrations.crm]] lookups for an
interaction the agent may see (crm.py runs them; the offer never waits for them)."""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Request

from ..crm import CrmLookups
from ..store import Store
from .access import AGENTS, current
from .app import WebApp
from .inbox_api import require_visible


class CrmApi:
    def __init__(self, store: Store, lookups: CrmLookups):
        self.store = store
        self.lookups = lookups

    def mount(self, app: WebApp) -> None:
        app.route("/api/interactions/<int:interaction_id>/crm", self.lookup, allow=AGENTS)

    def lookup(self, request: Request, interaction_id: int) -> tuple[int, Any]:
        require_visible(self.store, current(request), interaction_id)
        results = self.lookups.results(interaction_id)
        return 200, {"lookups": results or [], "pending": results is None}
