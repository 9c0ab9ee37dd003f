"""One engine node: store, migrations, engine, adapters and the web endpoint, started and stopped
in order. The one place that starts adapters."""

from __future__ import annotations

import logging
from typing import Any

import gevent
from gevent.event import Event
from gevent.pywsgi import WSGIServer

from . import __version__
from .adapters import AdapterContext, ChannelAdapter
from .callcontrol import CallControl
from .cases.service import Cases
from .config import LoadedConfig
from .csat.surveys import Surveys
from .engine import Engine
from .metrics import metrics_endpoint
from .models import AdapterHealth
from .outbox import OutboxSender
from .replies import Replies
from .routing.events import EventListener
from .routing.router import Router
from .routing.service import Routing
from .store import Store, migrations
from .store.embedded import EmbeddedPostgres
from .web.app import WebApp
from .web.auth import Auth, LoginThrottle
from .web.call_api import CallApi
from .web.cases_api import CasesApi
from .web.inbox_api import InboxApi
from .web.live import AgentStream
from .web.pages import Pages
from .web.supervisor_api import SupervisorApi
from .web.websocket import Handler

log = logging.getLogger(__name__)


class Node:
    def __init__(self, loaded: LoadedConfig, kinds: dict[str, type[ChannelAdapter]]):
        self.loaded = loaded
        self.kinds = kinds
        self.embedded: EmbeddedPostgres | None = None
        self.store: Store | None = None
        self.engine: Engine | None = None
        self.adapters: dict[str, ChannelAdapter] = {}
        self.adapter_failures: dict[str, str] = {}
        self.web: WSGIServer | None = None
        self.app: WebApp | None = None
        self.replies: Replies | None = None
        self.router: Router | None = None
        self.routing: Routing | None = None
        self.events: EventListener | None = None
        self.outbox: OutboxSender | None = None
        self.cases: Cases | None = None
        self.surveys: Surveys | None = None
        self._sla_watch: gevent.Greenlet | None = None
        self.stopped = Event()

    @property
    def name(self) -> str:
        return self.loaded.cic.engine.node

    def start(self) -> None:
        cic = self.loaded.cic
        url = cic.database.url
        if not url:
            self.embedded = EmbeddedPostgres(self.loaded.resolve(cic.database.embedded_dir))
            url = self.embedded.start()
        applied = migrations.upgrade(url)
        if applied:
            log.info("database upgraded: %s", ", ".join(applied))
        self.store = Store(url, cic.database.pool_min, cic.database.pool_max, name=f"cic-{self.name}").open()
        self.engine = Engine(self.store, cic)
        self.engine.load_directory()
        self.router = Router(self.store, cic)
        self.routing = Routing(self.router)
        self.router.start()
        self.events = EventListener(url)
        self.events.start()
        self.replies = Replies(self.store, self.engine.clock, adapter_for=self.adapter_for)
        self.cases = Cases(self.store, cic, self.engine.clock, self.replies)
        self.engine.after_ingest.append(self.cases.customer_wrote)
        self.surveys = Surveys(self.store, cic.csat, cic.engine.phone_region, self.engine.clock, self.replies)
        if self.surveys.enabled:
            self.engine.before_ingest.append(self.surveys.classify)
            self.engine.after_ingest.append(self.surveys.answered)
            self.events.subscribe(self.surveys.on_event)
        self.app = self._web_app()
        self._start_adapters()
        if self.cases.enabled:
            self._sla_watch = gevent.spawn(self.cases.watch, cic.cases.sla_check_s)
        self.web = WSGIServer(cic.web.address, self.app, log=None, error_log=logging.getLogger("cic_engine.web"),
                              handler_class=Handler)
        self.web.start()
        log.info("node %s serving the inbox at http://%s/", self.name, cic.web.bind)

    def _web_app(self) -> WebApp:
        assert self.store is not None and self.engine is not None and self.routing is not None
        assert self.events is not None
        web = self.loaded.cic.web
        app = WebApp()
        app.route("/healthz", self._healthz)
        app.route("/metrics", metrics_endpoint(self))
        auth = Auth(self.store, self.engine.clock, web.session_ttl_s, web.secure_cookies,
                    LoginThrottle(web.login_attempts, web.login_window_s))
        InboxApi(self.store, auth, self.engine, self.routing, self.replies, self.cases).mount(app)
        SupervisorApi(self.store, auth, self.routing).mount(app)
        CallApi(self.store, auth, CallControl(self.store, self.engine.clock)).mount(app)
        CasesApi(self.store, auth, self.cases).mount(app)
        AgentStream(self.store, auth, self.events).mount(app)
        Pages().mount(app)
        return app

    def _start_adapters(self) -> None:
        assert self.engine is not None and self.routing is not None and self.events is not None
        context = AdapterContext(node=self.name, engine=self.engine, routing=self.routing, events=self.events,
                                 web=self.app, replies=self.replies, surveys=self.surveys)
        for adapter_config in self.loaded.adapters:
            if not adapter_config.enabled:
                log.info("adapter %s (%s) is disabled in %s", adapter_config.name, adapter_config.kind, adapter_config.path)
                continue
            cls = self.kinds[adapter_config.kind]
            try:
                adapter = cls(adapter_config.name, adapter_config.settings, context)
                adapter.start()
            except Exception as exc:  # one broken channel must not take the others down
                log.exception("adapter %s (%s) failed to start", adapter_config.name, adapter_config.kind)
                self.adapter_failures[adapter_config.name] = f"{type(exc).__name__}: {exc}"
                continue
            self.adapters[adapter_config.name] = adapter
            log.info("adapter %s (%s) started", adapter_config.name, adapter_config.kind)
        assert self.store is not None
        self.outbox = OutboxSender(self.store, self.events, {n: a.deliver for n, a in self.adapters.items()},
                                   self.engine.clock, self.loaded.cic.outbox.backoff_s, self.loaded.cic.outbox.max_attempts)
        self.outbox.start()

    def adapter_for(self, channel: str) -> tuple[str, str | None] | None:
        """(name, our address) of the first running adapter that sends on a channel."""
        for name, adapter in self.adapters.items():
            if getattr(adapter, "channel", adapter.kind) == channel:
                return name, getattr(adapter, "address", None)
        return None

    def health(self) -> dict[str, Any]:
        store = self.store.health() if self.store else {"ok": False, "error": "not started"}
        adapters: dict[str, Any] = {}
        for name, adapter in self.adapters.items():
            try:
                h = adapter.health()
            except Exception as exc:
                h = AdapterHealth(ok=False, state="unknown", last_error=f"health check failed: {exc}")
            adapters[name] = {"kind": adapter.kind, **h.model_dump()}
        for name, error in self.adapter_failures.items():
            adapters[name] = {"kind": None, "ok": False, "state": "failed", "last_error": error, "detail": {}}
        all_ok = store["ok"] and all(a["ok"] for a in adapters.values())
        return {
            "status": "ok" if all_ok else ("degraded" if store["ok"] else "failing"),
            "node": self.name,
            "version": __version__,
            "database": "embedded" if self.embedded else "external",
            "store": store,
            "router": {"running": self.router.running if self.router else False,
                       "passes": self.router.passes if self.router else 0},
            "adapters": adapters,
        }

    def _healthz(self, request) -> tuple[int, Any]:
        body = self.health()
        return (200 if body["store"]["ok"] else 503), body

    def request_stop(self) -> None:
        self.stopped.set()

    def serve_until_stopped(self) -> None:
        self.stopped.wait()

    def stop(self, timeout: float = 10.0) -> None:
        if self.web is not None:
            self.web.stop(timeout=2)
        if self.outbox is not None:
            self.outbox.stop()
        if self._sla_watch is not None:
            self._sla_watch.kill()
        for name, adapter in list(self.adapters.items()):
            try:
                with gevent.Timeout(timeout):
                    adapter.stop(timeout)
            except BaseException as exc:  # keep stopping the rest; Timeout is a BaseException
                log.error("adapter %s did not stop cleanly: %s", name, exc)
        self.adapters.clear()
        if self.events is not None:
            self.events.stop()
        if self.router is not None:
            self.router.stop()
        if self.store is not None:
            self.store.close()
        if self.embedded is not None:
            self.embedded.stop()
        log.info("node %s stopped", self.name)
