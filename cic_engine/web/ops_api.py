"""The ops view's API: every adapter with its health, last error and counters, the loaded
configuration with its secrets masked, and a reload (admins), the same as SIGHUP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from werkzeug.wrappers import Request

from ..config import LoadedConfig
from ..reload import masked
from .access import ADMINS, SUPERVISORS
from .app import WebApp


class OpsApi:
    """The node hands in its health, its loaded configuration and its reload."""

    def __init__(self, health: Callable[[], dict[str, Any]], loaded: Callable[[], LoadedConfig],
                 reload: Callable[[], dict[str, Any]]):
        self.health = health
        self.loaded = loaded
        self.reload_config = reload
        self.app: WebApp | None = None

    def mount(self, app: WebApp) -> None:
        self.app = app
        app.route("/api/ops", self.view, allow=SUPERVISORS)
        app.route("/api/ops/reload", self.reload, ("POST",), allow=ADMINS)

    def view(self, request: Request) -> tuple[int, Any]:
        health = self.health()
        loaded = self.loaded()
        config = {"cic.toml": masked(loaded.cic.model_dump(mode="json")),
                  "channels": {a.name: {"kind": a.kind, "enabled": a.enabled, "file": str(a.path),
                                        "settings": masked(a.settings.model_dump(mode="json"))}
                               for a in loaded.adapters}}
        return 200, {"node": health["node"], "status": health["status"], "adapters": health["adapters"],
                     "config": config, "reloads": health["config"]["reloads"],
                     "last_reload": health["config"]["last_reload"],
                     "routes": self.routes()}

    def routes(self) -> list[dict[str, Any]]:
        """Every endpoint and who may call it (access.py), as the engine enforces it."""
        assert self.app is not None
        return [{"rule": r.rule, "methods": sorted(r.methods - {"HEAD", "OPTIONS"}), "websocket": r.websocket,
                 "allow": list(allow) if isinstance(allow := self.app.allowed[r.endpoint], tuple) else allow}
                for r in self.app.url_map.iter_rules()]

    def reload(self, request: Request) -> tuple[int, Any]:
        result = self.reload_config()
        return (200 if result["ok"] else 409), result
