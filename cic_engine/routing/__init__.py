"""Routing: queue ordering, matching interactions to agents, the offer protocol, overflow and
open hours. Settings live in routing.settings (imported by config without the rest)."""
