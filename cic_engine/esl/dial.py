"""Dial strings in adapter files: templates the engine fills in with an agent's login or a number,
checked when the file is read, before a wrong one could send a call nowhere."""

from __future__ import annotations


def dial_template(value: str, placeholder: str, example: str) -> str:
    """A dial string the adapter fills in: it must hold its placeholder. A loopback endpoint must
    name its context and dialplan: without them FreeSWITCH runs the leg in the context and
    dialplan of whoever dials it, which differ by path (a caller's bridge: the caller's; a leg the
    engine originates: `default`; a call the engine placed into its socket: the `inline`
    dialplan, where the number is taken for an application name)."""
    if "{" + placeholder + "}" not in value:
        raise ValueError(f"must contain {{{placeholder}}}, e.g. {example}")
    if value.startswith("loopback/") and len(value.split("/")) < 4:
        raise ValueError(f"a loopback endpoint must name its context and dialplan, e.g. "
                         f"loopback/{{{placeholder}}}/agents/XML (got {value!r})")
    return value
