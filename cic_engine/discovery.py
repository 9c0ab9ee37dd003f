"""Which channel adapter kinds are installed: the `cic_engine.adapters` entry points (the
built-in ones register the same way), so a third party ships a new channel as its own package.

It sits beside config.py, below the adapters: config validates an adapter file with its kind's
`Config` model, and needs no more of the adapter than that.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import ClassVar, Protocol

from pydantic import BaseModel

ENTRY_POINT_GROUP = "cic_engine.adapters"


class AdapterKind(Protocol):
    """What config needs of an adapter class; adapters/ has the whole seam (ChannelAdapter)."""

    kind: ClassVar[str]
    Config: ClassVar[type[BaseModel]]


class AdapterLoadError(RuntimeError):
    pass


def discover_adapter_kinds() -> dict[str, type[AdapterKind]]:
    kinds: dict[str, type[AdapterKind]] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls = ep.load()
        except Exception as exc:  # a broken third-party package must say which one it is
            raise AdapterLoadError(f"adapter entry point {ep.name!r} ({ep.value}) failed to load: {exc}") from exc
        if getattr(cls, "kind", None) != ep.name:
            raise AdapterLoadError(f"adapter entry point {ep.name!r} loads {ep.value} whose kind is {cls.kind!r}")
        kinds[ep.name] = cls
    return kinds
