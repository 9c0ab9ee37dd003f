"""Email without I/O: MIME parsing into what the inbox shows, and building replies."""
