"""cic-engine: one interaction center for voice, email, fax, SMS and web chat.

Nothing is imported here on purpose: the entry point must monkey-patch with gevent before
psycopg is imported (psycopg picks its wait function at import time).
"""

__version__ = "0.1.0"
