"""Outbound campaigns: who may be contacted, when, how often, and how fast to dial (no I/O here;
the dialer and the campaign store build on these)."""
