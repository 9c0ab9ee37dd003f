"""Email tests run against a real Dovecot (IMAP) and a real aiosmtpd (SMTP) on loopback, with a
real `cic-engine run`."""

from __future__ import annotations

import textwrap

import pytest

from cic_engine.config import CicConfig
from cic_engine.routing.router import Router
from cic_engine.routing.service import Routing
from tests.core.test_run import engine_toml, print_engine_log, start, stop
from tests.mailservers.dovecot import PASSWORD

MAILBOX = "support@example.com"


@pytest.fixture
def routing(store):
    """The routing API, as the inbox would use it, on the engine's database."""
    return Routing(Router(store, CicConfig.model_validate({"queues": [{"name": "general"}]})))




@pytest.fixture
def start_mail_engine(tmp_path, db_url, dovecot, smtp):
    started = []

    def start_with(adapter_extra: str = "", cic_extra: str = "", imap_extra: str = ""):
        started.append(start_mail_engine_process(tmp_path, db_url, dovecot, smtp, adapter_extra, cic_extra,
                                                 imap_extra))
        return started[-1]
    yield start_with
    for proc in started:
        if proc.poll() is None:
            assert stop(proc) == 0
    print_engine_log(tmp_path)


def start_mail_engine_process(tmp_path, db_url, dovecot, smtp, adapter_extra: str = "", cic_extra: str = "",
                              imap_extra: str = ""):
    (tmp_path / "channels").mkdir(exist_ok=True)
    (tmp_path / "cic.toml").write_text(engine_toml("mail-node", db_url) + textwrap.dedent("""\
        [outbox]
        backoff_s = 0.3
        [[queues]]
        name = "general"
        """) + textwrap.dedent(cic_extra))
    (tmp_path / "channels" / "support.toml").write_text(textwrap.dedent(f"""\
        kind = "email"
        address = "{MAILBOX}"
        display_name = "Example Support"
        signature = "Example Support team"
        """) + textwrap.dedent(adapter_extra) + textwrap.dedent(f"""\
        [imap]
        host = "127.0.0.1"
        port = {dovecot.port}
        security = "none"
        username = "{MAILBOX}"
        password = "{PASSWORD}"
        idle_renew_s = 5
        """) + textwrap.dedent(imap_extra) + textwrap.dedent(f"""\
        [smtp]
        host = "127.0.0.1"
        port = {smtp.port}
        security = "none"
        """))
    return start(tmp_path / "cic.toml", log=tmp_path / "engine.log")
