"""One engine node: store, migrations, engine, adapters and the web endpoint, started and stopped
in order. The one place that starts adapters."""

from __future__ import annotations

import logging
import os
from typing import Any

import gevent
from gevent.event import Event
from gevent.pool import Pool
from gevent.pywsgi import WSGIServer

from . import __version__
from .adapters import AdapterContext, ChannelAdapter
from .callcontrol import CallControl
from .cases.service import Cases
from .config import AdapterConfig, ConfigError, ConfigProblem, LoadedConfig, load_config, security_warnings
from .crm import CrmLookups
from .csat.surveys import Surveys
from .engine import Engine
from .metrics import CenterCollector, metrics_endpoint
from .models import AdapterHealth
from .outbound.dialer import Dialer
from .outbox import OutboxSender
from .reingest import Reingester
from .reload import plan as plan_reload
from .replies import Replies
from .routing.events import EventListener
from .routing.router import Router
from .routing.service import Routing
from .store import Store, migrations
from .store import inbox as store_inbox
from .store import sip as store_sip
from .store.customers import CustomerNotFound
from .store.embedded import EmbeddedPostgres
from .web.access import MONITOR, PUBLIC, Guard
from .web.api_v1 import IntegrationApi
from .web.app import AdapterRoutes, WebApp
from .web.auth import ApiTokens, Auth, LoginThrottle
from .web.call_api import CallApi
from .web.campaigns_api import CampaignsApi
from .web.cases_api import CasesApi
from .web.crm_api import CrmApi
from .web.inbox_api import InboxApi
from .web.integrations_api import IntegrationsApi
from .web.live import AgentStream
from .web.ops_api import OpsApi
from .web.pages import Pages
from .web.softphone_api import SoftphoneApi
from .web.supervisor_api import SupervisorApi
from .web.websocket import Handler
from .webhooks import Webhooks

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
        self.guard: Guard | None = None
        self.app: WebApp | None = None
        self.replies: Replies | None = None
        self.router: Router | None = None
        self.routing: Routing | None = None
        self.events: EventListener | None = None
        self.outbox: OutboxSender | None = None
        self.webhooks: Webhooks | None = None
        self.cases: Cases | None = None
        self.surveys: Surveys | None = None
        self._sla_watch: gevent.Greenlet | None = None
        self._reingest_watch: gevent.Greenlet | None = None
        self.listener = None  # the web socket, bound by the caller before anything starts
        self.dialer: Dialer | None = None
        self.stopped = Event()
        self.reloads = 0
        self.last_reload: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return self.loaded.cic.engine.node

    def start(self) -> None:
        cic = self.loaded.cic
        for warning in security_warnings(cic):
            log.warning("%s: %s", self.loaded.path, warning)
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
        # Hooked in whether or not [csat] asks anything yet: a reload that turns it on takes
        # effect at once (the hooks read the settings of the moment), and answers to surveys
        # asked before it was turned off still count.
        self.engine.before_ingest.append(self.surveys.classify)
        self.engine.after_ingest.append(self.surveys.answered)
        self.events.subscribe(self.surveys.on_event)
        self.dialer = Dialer(self.store, cic.outbound, self.engine.clock, self.name, cic.engine.phone_region,
                             adapter_for=self.adapter_for, voice=self._voice_adapter,
                             default_queue=cic.engine.default_queue)
        self.engine.after_ingest.append(self.dialer.link_replies)
        self.app = self._web_app()
        self._start_adapters()
        self.dialer.load_config(cic.campaigns, self._queue_ids(), self.loaded.base_dir)
        self.dialer.start()
        if self.cases.enabled:
            self._sla_watch = gevent.spawn(self.cases.watch, cic.cases.sla_check_s)
        self._reingest_watch = gevent.spawn(Reingester(self.store, self.engine.clock, lambda: self.adapters).watch)
        # A connection cap (a pool: the ones over it wait to be accepted) and deadlines for the
        # request's headers and each read of its body, so slow clients cannot hold the server.
        handler = type("Handler", (Handler,), {"header_timeout_s": cic.web.header_timeout_s,
                                               "body_timeout_s": cic.web.body_timeout_s})
        self.web = WSGIServer(self.listener or cic.web.address, self.app, log=None, error_log=logging.getLogger("cic_engine.web"),
                              handler_class=handler, spawn=Pool(cic.web.max_connections))
        self.web.start()
        log.info("node %s serving the inbox at http://%s/", self.name, cic.web.bind)

    def _web_app(self) -> WebApp:
        assert self.store is not None and self.engine is not None and self.routing is not None
        assert self.events is not None
        web = self.loaded.cic.web
        auth = Auth(self.store, self.engine.clock, web.session_ttl_s, web.cookies_secure,
                    LoginThrottle(web.login_attempts, web.login_window_s, web.address_login_attempts))
        auth.left = self._left
        token = os.environ.get(web.metrics_token_env) if web.metrics_token_env else None
        if web.metrics_token_env and not token:
            raise ConfigError([ConfigProblem(file=str(self.loaded.path), key="web.metrics_token_env",
                                             problem=f"environment variable {web.metrics_token_env} is not set")])
        self.guard = Guard(web.public_hosts, web.trusted_proxies, auth.principal, token,
                           authenticate_token=ApiTokens(self.store, self.engine.clock))
        app = WebApp(self.guard)
        app.route("/healthz", self._healthz, allow=PUBLIC)
        collector = CenterCollector(self.name, self.store, self.adapters, self.adapter_failures)
        app.route("/metrics", metrics_endpoint(collector), allow=MONITOR)
        OpsApi(self.health, lambda: self.loaded, self.reload).mount(app)
        InboxApi(self.store, auth, self.engine, self.routing, self.replies, self.cases).mount(app)
        SupervisorApi(self.store, self.routing, channels=self.running_channels).mount(app)
        CallApi(self.store, CallControl(self.store, self.engine.clock),
                has_voice=lambda: self._voice_adapter() is not None).mount(app)
        CasesApi(self.store, self.cases).mount(app)
        assert self.cases is not None
        IntegrationApi(self.store, self.engine, self.routing, self.cases).mount(app)
        IntegrationsApi(self.store, self.engine.clock).mount(app)
        crm = CrmLookups(lambda: self.loaded.cic.integrations, self._crm_context)
        self.events.subscribe(crm.on_event)
        CrmApi(self.store, crm).mount(app)
        app.frame_sources = lambda: self.loaded.cic.integrations.frame_origins()
        SoftphoneApi(self.store, self.engine.clock, lambda: self.loaded.cic.softphone).mount(app)
        app.connect_sources = self._switch_sockets
        assert self.dialer is not None
        CampaignsApi(self.store, self.dialer, self._queue_ids, CallControl(self.store, self.engine.clock),
                     channels=self.running_channels).mount(app)
        AgentStream(self.store, auth, self.events, self.loaded.cic.routing.disconnected_after_s).mount(app)
        Pages().mount(app)
        return app

    def _context(self, name: str) -> AdapterContext:
        assert self.engine is not None and self.routing is not None and self.events is not None
        assert self.app is not None
        return AdapterContext(node=self.name, engine=self.engine, routing=self.routing, events=self.events,
                              web=AdapterRoutes(self.app, name), replies=self.replies, surveys=self.surveys)

    def _start_adapter(self, adapter_config: AdapterConfig) -> ChannelAdapter | None:
        if not adapter_config.enabled:
            log.info("adapter %s (%s) is disabled in %s", adapter_config.name, adapter_config.kind, adapter_config.path)
            return None
        cls = self.kinds[adapter_config.kind]
        self.adapter_failures.pop(adapter_config.name, None)
        try:
            adapter = cls(adapter_config.name, adapter_config.settings, self._context(adapter_config.name))
            adapter.start()
        except Exception as exc:  # one broken channel must not take the others down
            log.exception("adapter %s (%s) failed to start", adapter_config.name, adapter_config.kind)
            self.adapter_failures[adapter_config.name] = f"{type(exc).__name__}: {exc}"
            return None
        self.adapters[adapter_config.name] = adapter
        log.info("adapter %s (%s) started", adapter_config.name, adapter_config.kind)
        return adapter

    def _stop_adapter(self, name: str, timeout: float) -> None:
        adapter = self.adapters.pop(name, None)
        self.adapter_failures.pop(name, None)
        if self.outbox is not None:
            self.outbox.remove(name)
        if adapter is None:
            return
        try:
            with gevent.Timeout(timeout):
                adapter.stop(timeout)
        except BaseException as exc:  # keep going; Timeout is a BaseException
            log.error("adapter %s did not stop cleanly: %s", name, exc)
        if self.app is not None:
            AdapterRoutes(self.app, name).retire()
        log.info("adapter %s stopped", name)

    def _start_adapters(self) -> None:
        for adapter_config in self.loaded.adapters:
            self._start_adapter(adapter_config)
        assert self.store is not None and self.engine is not None and self.events is not None
        settings = self.loaded.cic.outbox
        self.outbox = OutboxSender(self.store, self.events, {n: a.deliver for n, a in self.adapters.items()},
                                   self.engine.clock, settings.backoff_s, settings.max_attempts, self.name,
                                   settings.lease_s)
        self.outbox.start()
        self.webhooks = Webhooks(self.store, self.outbox.add, self.outbox.remove)
        self.webhooks.load()
        self.events.subscribe(self.webhooks.on_event)

    def reload(self) -> dict[str, Any]:
        """Re-read and validate cic.toml and channels/*.toml; apply them only if all is valid and
        nothing that needs a restart changed (otherwise the running configuration stays). Queues,
        agents, routing, cases and surveys take the new settings at once; only the adapters that
        changed are stopped (their work drained), started or restarted."""
        now = self.engine.clock.now() if self.engine else None
        try:
            new = load_config(self.loaded.path, self.kinds)
            change = plan_reload(self.loaded, new)
            if change.problems:
                raise ConfigError(list(change.problems))
        except ConfigError as exc:
            self.last_reload = {"ok": False, "at": now, "problems": [str(p) for p in exc.problems]}
            log.error("reload refused (%d problem(s)); the running configuration stays:\n  %s", len(exc.problems),
                      "\n  ".join(str(p) for p in exc.problems))
            return self.last_reload
        assert self.engine is not None and self.router is not None and self.cases is not None
        cic = new.cic
        self.engine.cic = cic
        self.engine.load_directory()
        self.router.cic = cic
        self.router.load_queues()
        self.cases.settings = cic.cases
        if self.surveys is not None:
            self.surveys.settings = cic.csat
        if self.dialer is not None:
            self.dialer.section = cic.outbound
        if self.outbox is not None:
            self.outbox.backoff_s, self.outbox.max_attempts = cic.outbox.backoff_s, cic.outbox.max_attempts
        self.loaded = new
        for name in change.stop + tuple(a.name for a in change.restart):
            self._stop_adapter(name, timeout=10.0)
        for adapter_config in change.start + change.restart:
            adapter = self._start_adapter(adapter_config)
            if adapter is not None and self.outbox is not None:
                self.outbox.add(adapter_config.name, adapter.deliver)
        if self.dialer is not None:
            self.dialer.load_config(cic.campaigns, self._queue_ids(), new.base_dir)
        self.reloads += 1
        self.last_reload = {"ok": True, "at": now, "changes": change.summary}
        log.info("configuration reloaded: %s", change.summary)
        return self.last_reload

    def _left(self, agent_id: int) -> None:
        """An agent logged out of their last session: offline, their offers back to the queue,
        their browser's SIP credentials void."""
        assert self.routing is not None and self.store is not None
        try:
            with self.store.transaction() as conn:
                store_sip.revoke(conn, agent_id)
            self.routing.set_offline(agent_id)
        except Exception as exc:  # noqa: BLE001 - the logout itself has happened; say why not offline
            log.warning("agent %s logged out but could not be set offline: %s", agent_id, exc)

    def _crm_context(self, interaction_id: int):
        """What a CRM lookup is filled in with: the interaction's summary and its customer."""
        assert self.store is not None and self.engine is not None
        with self.store.transaction() as conn:
            view = store_inbox.interaction(conn, interaction_id)
        if view is None:
            return None
        try:
            return view, self.engine.get_customer(view["customer_id"])
        except CustomerNotFound:
            return view, None

    def _queue_ids(self) -> dict[str, int]:
        assert self.router is not None
        return dict(self.router.queues.ids)

    def _switch_sockets(self) -> list[str]:
        """The switch's WebSockets the pages may open (their Content-Security-Policy): the
        inbox's softphone, and the chat widget's calls on the demo page."""
        sockets = [self.loaded.cic.softphone.ws_url] if self.loaded.cic.softphone.ws_url else []
        for adapter in list(self.adapters.values()):
            call = getattr(getattr(adapter, "config", None), "call", None)
            if call is not None and call.ws_url not in sockets:
                sockets.append(call.ws_url)
        return sockets

    def _voice_adapter(self):
        """The voice adapter campaigns dial through on this node (the first one running)."""
        return next((a for a in self.adapters.values() if a.kind == "voice"), None)

    def running_channels(self) -> set[str]:
        """The channels an adapter runs for on this node."""
        return {getattr(a, "channel", a.kind) for a in self.adapters.values()}

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
            "config": {"path": str(self.loaded.path), "reloads": self.reloads, "last_reload": self.last_reload},
        }

    def _healthz(self, request) -> tuple[int, Any]:
        """Up or not for anyone (a load balancer); the detail for monitoring only."""
        body = self.health()
        status = 200 if body["store"]["ok"] else 503
        if self.guard is None or self.guard.monitors(request):
            return status, body
        return status, {"status": body["status"]}

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
        if self._reingest_watch is not None:
            self._reingest_watch.kill()
        if self.dialer is not None:
            self.dialer.stop()
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
