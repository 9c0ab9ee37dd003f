"""Outbound campaigns: contact lists from CSV (`contacts`), who may be contacted and when
(`policy`), how fast to dial (`pacing`), and the dialer that runs them (`dialer`). Their
settings are in settings/outbound.py, their SQL in store/campaigns/."""
