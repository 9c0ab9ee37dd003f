"""cic.toml and channels/*.toml: pydantic models, loading, and errors that name file and key."""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import phonenumbers
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from .discovery import discover_adapter_kinds
from .settings.cases import CasesSection, check_placeholders
from .settings.csat import CsatSection
from .settings.integrations import IntegrationsSection
from .settings.outbound import CampaignSettings, OutboundSection
from .settings.routing import (
    DEMO_PASSWORD_HASHES,
    NAME_PATTERN,
    AgentSeed,
    Name,
    QueueConfig,
    RoutingSection,
    Strategy,
    StrictModel,
)
from .settings.softphone import SoftphoneSection

__all__ = ["AgentSeed", "CicConfig", "ConfigError", "ConfigProblem", "LoadedConfig", "QueueConfig", "load_config"]


class ConfigProblem(BaseModel):
    file: str
    key: str
    problem: str

    def __str__(self) -> str:
        return f"{self.file}: {self.key or '(file)'}: {self.problem}"


class ConfigError(Exception):
    """The configuration cannot be used; every problem found is listed, each with file and key."""

    def __init__(self, problems: list[ConfigProblem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class EngineSection(StrictModel):
    node: Name = "node-1"
    phone_region: str = Field("CN", description="ISO 3166 region for numbers written without a country code")
    default_queue: Name = "general"
    channels_dir: Path = Field(Path("channels"), description="relative to the directory of cic.toml")

    @field_validator("phone_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        if value.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown phone region {value!r} (use an ISO 3166 code such as CN or US)")
        return value.upper()


class DatabaseSection(StrictModel):
    url: str = Field("", description="postgresql:// URL; empty starts the embedded PostgreSQL")
    embedded_dir: Path = Field(Path("var/pg"), description="data of the embedded PostgreSQL")
    pool_min: int = Field(2, ge=1, le=200)
    pool_max: int = Field(10, ge=1, le=500)

    @field_validator("url")
    @classmethod
    def _postgres_url(cls, value: str) -> str:
        if value and not re.match(r"^postgres(ql)?://", value):
            raise ValueError("must start with postgresql:// (or be empty for the embedded database)")
        return value

    @model_validator(mode="after")
    def _pool_bounds(self) -> DatabaseSection:
        if self.pool_max < self.pool_min:
            raise ValueError(f"pool_max ({self.pool_max}) is below pool_min ({self.pool_min})")
        return self


class WebSection(StrictModel):
    bind: str = "127.0.0.1:8080"
    session_ttl_s: float = Field(8 * 3600, ge=60, le=30 * 86400, description="an inbox login lasts this long")
    secure_cookies: bool | None = Field(None, description="send the login cookie over HTTPS only; unset: yes unless "
                                        "bound to loopback (TLS is expected at a proxy in front of the engine)")
    login_attempts: int = Field(5, ge=1, le=1000, description="failed logins per login name within login_window_s, "
                                "then that login is refused until the window has passed")
    login_window_s: float = Field(300, ge=1, le=86400, description="... within this many seconds, then refused")
    address_login_attempts: int = Field(
        50, ge=1, le=100_000, description="failed logins from one client address (all names) within login_window_s: "
        "a cap on guessing across many names, set above login_attempts for a floor behind one NAT address")
    public_hosts: list[str] = Field(
        default_factory=list, description="host names the engine is reached by (e.g. cic.example.com); requests "
        "naming another host are refused (DNS rebinding). localhost and IP addresses are always accepted")
    trusted_proxies: list[str] = Field(
        default_factory=list, description="addresses or networks of the proxies in front of the engine, whose "
        "X-Forwarded-For names the real client (for login limits and the public chat's limits)")
    header_timeout_s: float = Field(10, gt=0, le=300, description="a request's line and headers must arrive within this")
    body_timeout_s: float = Field(60, gt=0, le=3600, description="each read of a request body must arrive within this")
    max_connections: int = Field(2000, ge=10, le=100_000, description="open connections (sockets included) at once")
    metrics_token_env: str | None = Field(
        None, description="environment variable holding a bearer token for /metrics and /healthz's detail; "
        "unset: only clients on loopback get them")

    @field_validator("bind")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("must be host:port, e.g. 127.0.0.1:8080")
        return value

    @field_validator("public_hosts")
    @classmethod
    def _host_names(cls, value: list[str]) -> list[str]:
        for host in value:
            if not re.fullmatch(r"[A-Za-z0-9.-]+(:\d{1,5})?", host):
                raise ValueError(f"{host!r} is not a host name (give names such as cic.example.com, no scheme)")
        return [h.lower() for h in value]

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for network in value:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"{network!r} is not an address or network (e.g. 10.0.0.5 or 10.0.0.0/8)") from None
        return value

    @property
    def address(self) -> tuple[str, int]:
        host, _, port = self.bind.rpartition(":")
        return host.strip("[]"), int(port)

    @property
    def loopback(self) -> bool:
        """Bound where only this machine reaches it."""
        host = self.address[0]
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    @property
    def cookies_secure(self) -> bool:
        return self.secure_cookies if self.secure_cookies is not None else not self.loopback


class OutboxSection(StrictModel):
    backoff_s: float = Field(30, gt=0, le=3600, description="first retry after a temporary failure; doubles each time")
    max_attempts: int = Field(8, ge=1, le=50, description="after these, a temporary failure is final")
    lease_s: float = Field(30, ge=1, le=3600, description="a message being sent is another node's to send if its "
                           "sender has not renewed its lease for this long (the sender died)")


CANNED_PLACEHOLDERS = ("customer_name", "agent_name", "ticket", "queue", "channel")


class CannedResponse(StrictModel):
    name: str = Field(min_length=1, max_length=100)
    text: str = Field(min_length=1, max_length=10_000, description="placeholders: " + ", ".join(
        "{" + p + "}" for p in CANNED_PLACEHOLDERS))

    @field_validator("text")
    @classmethod
    def _known_placeholders(cls, value: str) -> str:
        return check_placeholders(value, CANNED_PLACEHOLDERS)


class InboxSection(StrictModel):
    canned: list[CannedResponse] = Field(default_factory=list, description="canned responses agents can insert")
    dispositions: list[str] = Field(
        default_factory=list, description="wrap-up codes; when set, an agent must pick one of them")


class CicConfig(StrictModel):
    engine: EngineSection = Field(default_factory=EngineSection)
    database: DatabaseSection = Field(default_factory=DatabaseSection)
    web: WebSection = Field(default_factory=WebSection)
    routing: RoutingSection = Field(default_factory=RoutingSection)
    outbox: OutboxSection = Field(default_factory=OutboxSection)
    inbox: InboxSection = Field(default_factory=InboxSection)
    cases: CasesSection = Field(default_factory=CasesSection)
    csat: CsatSection = Field(default_factory=CsatSection)
    softphone: SoftphoneSection = Field(default_factory=SoftphoneSection)
    integrations: IntegrationsSection = Field(default_factory=IntegrationsSection)
    outbound: OutboundSection = Field(default_factory=OutboundSection)
    campaigns: list[CampaignSettings] = Field(default_factory=list)
    queues: list[QueueConfig] = Field(default_factory=lambda: [QueueConfig(name="general")])
    agents: list[AgentSeed] = Field(default_factory=list)

    @model_validator(mode="after")
    def _case_people(self) -> CicConfig:
        departments = {d.name for d in self.cases.departments}
        logins = {a.login for a in self.agents}
        for agent in self.agents:
            if agent.department is not None and agent.department not in departments:
                raise ValueError(f"agent {agent.login!r}: no department named {agent.department!r} in cases.departments")
        for department in self.cases.departments:
            if department.escalate_to is not None and department.escalate_to not in logins:
                raise ValueError(f"cases.departments {department.name!r}: escalate_to {department.escalate_to!r} is "
                                 "not an agent login")
        return self

    @model_validator(mode="after")
    def _crm_queues(self) -> CicConfig:
        queues = {q.name for q in self.queues}
        for n, lookup in enumerate(self.integrations.crm):
            unknown = [q for q in lookup.queues if q not in queues]
            if unknown:
                raise ValueError(f"integrations.crm[{n}].queues: no queue named {unknown[0]!r}")
        return self


class AdapterFileHeader(StrictModel):
    """The keys every channels/*.toml has; the rest belongs to the adapter kind's own Config."""

    kind: Name
    name: Name | None = None
    enabled: bool = True


@dataclass(frozen=True)
class AdapterConfig:
    name: str
    kind: str
    enabled: bool
    path: Path
    settings: BaseModel


@dataclass(frozen=True)
class LoadedConfig:
    path: Path
    cic: CicConfig
    adapters: tuple[AdapterConfig, ...]

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def resolve(self, path: Path) -> Path:
        """Paths in cic.toml are relative to the file, not to wherever the engine was started."""
        return path if path.is_absolute() else self.base_dir / path


def _key(loc: Iterable[Any]) -> str:
    key = ""
    for part in loc:
        if part == "[key]":  # pydantic's marker for "the key itself is wrong", already named
            continue
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    return key


def _problems(file: Path, exc: ValidationError, prefix: str = "") -> list[ConfigProblem]:
    problems = []
    for err in exc.errors(include_url=False):
        key = _key((*([prefix] if prefix else []), *err["loc"]))
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown key"
        elif err["type"] not in ("missing", "value_error") and "input" in err:
            message = f"{message} (got {err['input']!r})"
        problems.append(ConfigProblem(file=str(file), key=key, problem=message))
    return problems


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError([ConfigProblem(file=str(path), key="", problem="file not found")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([ConfigProblem(file=str(path), key="", problem=f"not valid TOML: {exc}")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigProblem(file=str(path), key="", problem=f"cannot read: {exc}")]) from None


def security_warnings(cic: CicConfig) -> list[str]:
    """What is allowed but unsafe beyond a demo (the unsafe and reachable is a ConfigProblem)."""
    warnings = []
    demo = [a.login for a in cic.agents if a.password_hash in DEMO_PASSWORD_HASHES]
    if demo:
        warnings.append(f"demo password (cic-demo) still set for {', '.join(demo)}; fine on this machine alone, "
                        "refused when [web] bind reaches other machines: run `cic-engine passwd <login>`")
    if not cic.web.loopback and cic.web.secure_cookies is False:
        warnings.append("[web] secure_cookies = false while bound beyond loopback: logins travel without TLS")
    return warnings


def _cross_checks(path: Path, cic: CicConfig) -> list[ConfigProblem]:
    problems = []
    names = [q.name for q in cic.queues]
    for i, name in enumerate(names):
        if name in names[:i]:
            problems.append(ConfigProblem(file=str(path), key=f"queues[{i}].name", problem=f"duplicate queue {name!r}"))
    if cic.engine.default_queue not in names:
        problems.append(
            ConfigProblem(
                file=str(path),
                key="engine.default_queue",
                problem=f"no queue named {cic.engine.default_queue!r} (queues: {', '.join(names) or 'none'})",
            )
        )
    for i, queue in enumerate(cic.queues):
        problems.extend(_queue_references(path, f"queues[{i}]", queue, names))
    if not cic.web.loopback:
        problems.extend(ConfigProblem(file=str(path), key=f"agents[{i}].password_hash", problem=(
            f"{agent.login} has the shipped demo password, and [web] bind {cic.web.bind} reaches beyond this "
            "machine; remove password_hash and run `cic-engine passwd " + agent.login + "`"))
            for i, agent in enumerate(cic.agents) if agent.password_hash in DEMO_PASSWORD_HASHES)
    problems.extend(_campaign_checks(path, cic, names))
    logins: list[str] = []
    for i, agent in enumerate(cic.agents):
        if agent.login in logins:
            problems.append(
                ConfigProblem(file=str(path), key=f"agents[{i}].login", problem=f"duplicate agent {agent.login!r}")
            )
        logins.append(agent.login)
        for j, queue in enumerate(agent.queues):
            if queue not in names:
                problems.append(
                    ConfigProblem(file=str(path), key=f"agents[{i}].queues[{j}]", problem=f"no queue named {queue!r}")
                )
    return problems


def _campaign_checks(path: Path, cic: CicConfig, queues: list[str]) -> list[ConfigProblem]:
    problems = []
    seen: list[str] = []
    for i, campaign in enumerate(cic.campaigns):
        key = f"campaigns[{i}]"
        if campaign.name in seen:
            problems.append(ConfigProblem(file=str(path), key=f"{key}.name", problem=f"duplicate campaign {campaign.name!r}"))
        seen.append(campaign.name)
        if campaign.queue is not None and campaign.queue not in queues:
            problems.append(ConfigProblem(file=str(path), key=f"{key}.queue", problem=f"no queue named {campaign.queue!r}"))
        if campaign.contacts_csv is not None:
            csv_path = Path(campaign.contacts_csv)
            csv_path = csv_path if csv_path.is_absolute() else path.parent / csv_path
            if not csv_path.is_file():
                problems.append(ConfigProblem(file=str(path), key=f"{key}.contacts_csv", problem=f"no such file: {csv_path}"))
    return problems


def _queue_references(path: Path, key: str, queue: QueueConfig, names: list[str]) -> list[ConfigProblem]:
    problems = []

    def refer(subkey: str, other: str | None) -> None:
        if other is None:
            return
        if other not in names:
            problems.append(ConfigProblem(file=str(path), key=f"{key}.{subkey}", problem=f"no queue named {other!r}"))
        elif other == queue.name:
            problems.append(ConfigProblem(file=str(path), key=f"{key}.{subkey}", problem="a queue cannot overflow into itself"))

    refer("after_hours.queue", queue.after_hours.queue)
    for j, step in enumerate(queue.overflow):
        refer(f"overflow[{j}].queue", step.queue)
    if queue.strategy == Strategy.ring_all and "voice" not in queue.channels:
        problems.append(ConfigProblem(file=str(path), key=f"{key}.strategy", problem="ring-all needs a queue that takes voice"))
    return problems


def _load_adapter(path: Path, kinds: Mapping[str, Any]) -> tuple[AdapterConfig | None, list[ConfigProblem]]:
    raw = _read_toml(path)
    header_keys = set(AdapterFileHeader.model_fields)
    try:
        header = AdapterFileHeader.model_validate({k: v for k, v in raw.items() if k in header_keys})
    except ValidationError as exc:
        return None, _problems(path, exc)
    adapter_cls = kinds.get(header.kind)
    if adapter_cls is None:
        known = ", ".join(sorted(kinds)) or "none installed"
        return None, [ConfigProblem(file=str(path), key="kind", problem=f"unknown adapter kind {header.kind!r} (known: {known})")]
    settings_raw = {k: v for k, v in raw.items() if k not in header_keys}
    try:
        settings = adapter_cls.Config.model_validate(settings_raw)
    except ValidationError as exc:
        return None, _problems(path, exc)
    name = header.name or path.stem
    if not re.match(NAME_PATTERN, name):
        return None, [ConfigProblem(file=str(path), key="name", problem=f"file name {path.stem!r} is not a valid adapter name; set name = \"...\"")]
    return AdapterConfig(name=name, kind=header.kind, enabled=header.enabled, path=path, settings=settings), []


def load_config(path: Path | str, kinds: Mapping[str, Any] | None = None) -> LoadedConfig:
    """Read and validate cic.toml and every channels/*.toml; raise ConfigError listing all problems.

    `kinds` maps adapter kind to its class (with a `Config` model); by default the installed
    `cic_engine.adapters` entry points.
    """
    path = Path(path)
    if kinds is None:
        kinds = discover_adapter_kinds()
    raw = _read_toml(path)
    try:
        cic = CicConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_problems(path, exc)) from None
    problems = _cross_checks(path, cic)

    channels_dir = cic.engine.channels_dir
    channels_dir = channels_dir if channels_dir.is_absolute() else path.parent / channels_dir
    adapters: list[AdapterConfig] = []
    if not channels_dir.is_dir():
        problems.append(ConfigProblem(file=str(path), key="engine.channels_dir", problem=f"not a directory: {channels_dir}"))
    else:
        seen: dict[str, Path] = {}
        for file in sorted(channels_dir.glob("*.toml")):
            try:
                adapter, found = _load_adapter(file, kinds)
            except ConfigError as exc:
                problems.extend(exc.problems)
                continue
            problems.extend(found)
            if adapter is None:
                continue
            if adapter.name in seen:
                problems.append(
                    ConfigProblem(
                        file=str(file),
                        key="name",
                        problem=f"duplicate adapter name {adapter.name!r} (also in {seen[adapter.name]})",
                    )
                )
                continue
            seen[adapter.name] = file
            adapters.append(adapter)
    if problems:
        raise ConfigError(problems)
    return LoadedConfig(path=path, cic=cic, adapters=tuple(adapters))
