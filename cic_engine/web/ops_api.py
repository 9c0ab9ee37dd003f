"""The ops view's API: every adapter with its health, last error and counters, the loaded
configuration with its secrets masked, and a reload (admins), the same as SIGHUP."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request

from ..reload import masked
from .app import WebApp
from .auth import Auth

if TYPE_CHECKING:
    from ..node import Node


class OpsApi:
    def __init__(self, auth: Auth, node: Node):
        self.auth = auth
        self.node = node

    def mount(self, app: WebApp) -> None:
        app.route("/api/ops", self.view)
        app.route("/api/ops/reload", self.reload, ("POST",))

    def view(self, request: Request) -> tuple[int, Any]:
        self.auth.require(request, "supervisor", "admin")
        health = self.node.health()
        loaded = self.node.loaded
        config = {"cic.toml": masked(loaded.cic.model_dump(mode="json")),
                  "channels": {a.name: {"kind": a.kind, "enabled": a.enabled, "file": str(a.path),
                                        "settings": masked(a.settings.model_dump(mode="json"))}
                               for a in loaded.adapters}}
        return 200, {"node": health["node"], "status": health["status"], "adapters": health["adapters"],
                     "config": config, "reloads": self.node.reloads, "last_reload": self.node.last_reload}

    def reload(self, request: Request) -> tuple[int, Any]:
        self.auth.require(request, "admin")
        result = self.node.reload()
        return (200 if result["ok"] else 409), result
