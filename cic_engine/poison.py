"""What a channel does with a contact it cannot take in. Only an unreachable database or
network is worth retrying (the contact waits upstream, unacknowledged); any other failure is
the contact's own (its data), so it is recorded as rejected with its bytes and acknowledged,
and the channel goes on to the next one."""

from __future__ import annotations

import logging

import gevent
import psycopg

from .models import storable

log = logging.getLogger(__name__)

# OperationalError covers a lost connection, a server shutting down and a query cancelled by
# its timeout; InterfaceError a closed connection; OSError the network itself.
UNREACHABLE = (psycopg.OperationalError, psycopg.InterfaceError, OSError, gevent.Timeout)


def unreachable(error: BaseException) -> bool:
    return isinstance(error, UNREACHABLE)


def reason(error: BaseException, where: str = "") -> str:
    """One line a supervisor can act on: what failed, and the error's own words."""
    text = f"{type(error).__name__}: {' '.join(str(error).split())}"
    return storable(f"{where}: {text}" if where else text)[:2000]
