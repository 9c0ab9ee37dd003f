"""The FreeSWITCH layer: the event-socket protocol (sans I/O) and, on top of it, the
supervised inbound connection and the outbound-socket server."""
