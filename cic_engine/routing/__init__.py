"""Routing: queue ordering, matching interactions to agents, the offer protocol, overflow and
open hours. Its settings are `settings/routing.py` (the `[routing]` and `[[queues]]` sections)."""
