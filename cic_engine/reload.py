"""What a configuration reload changes: which adapters stop, start or restart, and which
changes a running node cannot take (they need a restart and refuse the reload whole)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .config import AdapterConfig, ConfigProblem, LoadedConfig

# Settings a running node cannot change under itself: the reload is refused and says so.
NEEDS_RESTART = (("database", "the database"), ("web", "the web server's settings"), ("engine.node", "the node name"),
                 ("engine.channels_dir", "the channels directory"))
SECRET_WORDS = ("password", "secret", "token", "hash")


@dataclass(frozen=True)
class ReloadPlan:
    stop: tuple[str, ...]  # adapters removed or disabled
    start: tuple[AdapterConfig, ...]  # adapters added or enabled
    restart: tuple[AdapterConfig, ...]  # adapters whose settings changed
    problems: tuple[ConfigProblem, ...]  # changes that need a restart of the node

    @property
    def summary(self) -> str:
        parts = [f"{what}: {', '.join(names)}" for what, names in (
            ("stopped", self.stop), ("started", [a.name for a in self.start]),
            ("restarted", [a.name for a in self.restart])) if names]
        return "; ".join(parts) or "no adapter changed"


def _section(data: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        data = data.get(part, {}) if isinstance(data, dict) else {}
    return data


def plan(old: LoadedConfig, new: LoadedConfig) -> ReloadPlan:
    old_cic, new_cic = old.cic.model_dump(mode="json"), new.cic.model_dump(mode="json")
    problems = tuple(ConfigProblem(file=str(new.path), key=key, problem=f"changing {what} needs a restart of the node")
                     for key, what in NEEDS_RESTART if _section(old_cic, key) != _section(new_cic, key))
    before = {a.name: a for a in old.adapters}
    after = {a.name: a for a in new.adapters}
    stop, start, restart = [], [], []
    for name, was in before.items():
        now = after.get(name)
        if now is None or (was.enabled and not now.enabled):
            stop.append(name)
        elif now.enabled and (not was.enabled):
            start.append(now)
        elif now.enabled and (was.kind != now.kind or was.settings.model_dump(mode="json")
                              != now.settings.model_dump(mode="json")):
            restart.append(now)
    start += [a for name, a in after.items() if name not in before and a.enabled]
    return ReloadPlan(tuple(stop), tuple(start), tuple(restart), problems)


def masked(value: Any) -> Any:
    """A configuration as ops may see it: every password, secret, token or hash replaced, and
    in any URL its password and its query's values (where providers put API keys)."""
    if isinstance(value, dict):
        return {k: ("********" if v and any(w in k.lower() for w in SECRET_WORDS) and not isinstance(v, (dict, list))
                    else masked(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v) for v in value]
    if isinstance(value, str) and "://" in value:
        return _masked_url(value)
    return value


def _masked_url(url: str) -> str:
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if parts.password is not None:
            netloc = netloc.replace(f":{parts.password}@", ":********@", 1)
        query = urlencode([(k, "********") for k, _ in parse_qsl(parts.query, keep_blank_values=True)], safe="*")
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return "********"  # not a URL we can take apart: show none of it
