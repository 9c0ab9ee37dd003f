"""The ops view's API: every adapter with its health, last error and counters, the loaded
configuration with its secrets masked, and a reload (admins), the same as SIGHUP."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request

from ..reload import masked
from .access import ADMINS, SUPERVISORS
from .app import WebApp

if TYPE_CHECKING:
    from ..node import Node


class OpsApi:
    def __init__(self, node: Node):
        self.node = node
        self.app: WebApp | None = None

    def mount(self, app: WebApp) -> None:
        self.app = app
        app.route("/api/ops", self.view, allow=SUPERVISORS)
        app.route("/api/ops/reload", self.reload, ("POST",), allow=ADMINS)

    def view(self, request: Request) -> tuple[int, Any]:
        health = self.node.health()
        loaded = self.node.loaded
        config = {"cic.toml": masked(loaded.cic.model_dump(mode="json")),
                  "channels": {a.name: {"kind": a.kind, "enabled": a.enabled, "file": str(a.path),
                                        "settings": masked(a.settings.model_dump(mode="json"))}
                               for a in loaded.adapters}}
        return 200, {"node": health["node"], "status": health["status"], "adapters": health["adapters"],
                     "config": config, "reloads": self.node.reloads, "last_reload": self.node.last_reload,
                     "routes": self.routes()}

    def routes(self) -> list[dict[str, Any]]:
        """Every endpoint and who may call it (access.py), as the engine enforces it."""
        assert self.app is not None
        return [{"rule": r.rule, "methods": sorted(r.methods - {"HEAD", "OPTIONS"}), "websocket": r.websocket,
                 "allow": list(allow) if isinstance(allow := self.app.allowed[r.endpoint], tuple) else allow}
                for r in self.app.url_map.iter_rules()]

    def reload(self, request: Request) -> tuple[int, Any]:
        result = self.node.reload()
        return (200 if result["ok"] else 409), result
