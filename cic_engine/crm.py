"""The CRM in the screen pop: when an interaction is offered, each [[integrations.crm]] lookup
that applies to its queue and channel is asked (GET, with the customer's phone and email), and
the fields it names are read from the JSON answer. The offer never waits for it: the lookup
runs beside the offer, and the agent's page asks for its result, which is "unavailable" (with
the reason) once the lookup's timeout has passed. Results are kept a minute, so opening the
same interaction again does not ask the CRM again."""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import gevent
from gevent.event import AsyncResult

from .http_requests import urlopen
from .models import Customer, IdentityKind
from .routing.events import RoutingEvent
from .settings.integrations import CrmLookup, IntegrationsSection

log = logging.getLogger(__name__)
KEEP_S = 60.0
MAX_KEPT = 5000
MAX_ANSWER_BYTES = 512 * 1024
MAX_VALUE_CHARS = 500


def values_of(customer: Customer | None, interaction: dict[str, Any]) -> dict[str, str]:
    """What a template's placeholders stand for (empty when the customer has none)."""
    identities = customer.identities if customer else []
    first = {kind: next((i.value for i in identities if i.kind == kind), "") for kind in IdentityKind}
    return {"phone": first[IdentityKind.phone], "email": first[IdentityKind.email],
            "customer_id": str(interaction.get("customer_id") or ""), "interaction_id": str(interaction["id"]),
            "channel": str(interaction.get("channel") or ""), "queue": str(interaction.get("queue") or "")}


def fill(template: str, values: dict[str, str]) -> str:
    return template.format(**{k: quote(v, safe="") for k, v in values.items()})


def pick(answer: Any, path: str) -> Any:
    """The value at a dotted path (keys, list positions) of a JSON answer; None when absent."""
    for step in path.split("."):
        if isinstance(answer, dict):
            answer = answer.get(step)
        elif isinstance(answer, list) and step.isdigit() and int(step) < len(answer):
            answer = answer[int(step)]
        else:
            return None
    return answer


def shown(value: Any) -> str | None:
    """A field's value as the agent reads it: text, never markup (the page shows it as text)."""
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text[:MAX_VALUE_CHARS]


def ask(lookup: CrmLookup, values: dict[str, str]) -> dict[str, Any]:
    """One lookup's result for the screen pop: its fields, its link, or why it is unavailable."""
    result: dict[str, Any] = {"name": lookup.name, "state": "ok", "fields": [],
                              "link": fill(lookup.link, values) if lookup.link else None, "frame": lookup.frame}
    if lookup.url is None:
        return result
    headers = {"Accept": "application/json", "User-Agent": "cic-engine-crm"}
    token = os.environ.get(lookup.token_env) if lookup.token_env else None
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(fill(lookup.url, values), headers=headers)
    started = time.monotonic()
    try:
        # The socket timeout bounds each read; the greenlet's timeout bounds the whole answer.
        with gevent.Timeout(lookup.timeout_s), \
                urlopen(request, timeout=lookup.timeout_s) as response:
            body = response.read(MAX_ANSWER_BYTES + 1)
    except gevent.Timeout:
        return _unavailable(result, f"no answer in {lookup.timeout_s:g} s")
    except urllib.error.HTTPError as exc:
        return _unavailable(result, f"it answered {exc.code}")
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        return _unavailable(result, f"unreachable: {getattr(exc, 'reason', exc)}")
    if len(body) > MAX_ANSWER_BYTES:
        return _unavailable(result, f"its answer is over {MAX_ANSWER_BYTES} bytes")
    try:
        answer = json.loads(body)
    except ValueError:
        return _unavailable(result, "its answer is not JSON")
    result["fields"] = [{"label": f.label, "value": shown(pick(answer, f.path))} for f in lookup.fields]
    log.debug("crm %s answered in %.0f ms", lookup.name, (time.monotonic() - started) * 1000)
    return result


def _unavailable(result: dict[str, Any], reason: str) -> dict[str, Any]:
    log.info("crm %s unavailable: %s", result["name"], reason)
    return {**result, "state": "unavailable", "reason": reason}


def _failed(lookup: CrmLookup) -> dict[str, Any]:
    return {"name": lookup.name, "state": "unavailable", "reason": "the lookup failed (see the engine log)",
            "fields": [], "link": None, "frame": False}


class CrmLookups:
    """Runs the lookups of an interaction once and keeps the answers a while; everyone asking
    meanwhile (the prefetch on the offer, the agent's page) shares the one run."""

    def __init__(self, settings: Callable[[], IntegrationsSection],
                 context: Callable[[int], tuple[dict[str, Any], Customer | None] | None]):
        self.settings = settings
        self.context = context  # interaction id -> (interaction summary, customer), None if there is none
        self._kept: OrderedDict[int, tuple[float, AsyncResult]] = OrderedDict()

    def results(self, interaction_id: int, wait_s: float | None = None) -> list[dict[str, Any]] | None:
        """The lookups' results; None if they are not back within `wait_s` (default: the
        longest timeout, after which every lookup has an answer or is unavailable)."""
        lookups = self.settings().crm
        if not lookups:
            return []
        kept = self._kept.get(interaction_id)
        if kept is None or time.monotonic() - kept[0] > KEEP_S:
            kept = (time.monotonic(), AsyncResult())
            self._kept[interaction_id] = kept
            while len(self._kept) > MAX_KEPT:
                self._kept.popitem(last=False)
            gevent.spawn(self._run, interaction_id, lookups, kept[1])
        wait = wait_s if wait_s is not None else max(lookup.timeout_s for lookup in lookups) + 1.0
        kept[1].wait(wait)
        return kept[1].get() if kept[1].ready() else None

    def _run(self, interaction_id: int, lookups: list[CrmLookup], out: AsyncResult) -> None:
        try:
            found = self.context(interaction_id)
            if found is None:
                out.set([])
                return
            interaction, customer = found
            values = values_of(customer, interaction)
            chosen = [lookup for lookup in lookups if lookup.applies(interaction["channel"], interaction.get("queue"))]
            runs = [gevent.spawn(ask, lookup, values) for lookup in chosen]
            gevent.joinall(runs)
            out.set([run.value if run.successful() else _failed(lookup) for lookup, run in zip(chosen, runs, strict=True)])
        except Exception:  # the screen pop says so; nothing else depends on it
            log.exception("crm lookups for interaction %s failed", interaction_id)
            out.set([_failed(lookup) for lookup in lookups])

    def on_event(self, event: RoutingEvent) -> None:
        """An offer: start its lookups now, so they are back when the agent looks."""
        if event.event == "interaction.offered" and event.interaction_id is not None and self.settings().crm:
            gevent.spawn(self.results, event.interaction_id, 0)
