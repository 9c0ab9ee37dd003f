"""The channels/*.toml files of the test servers, for tests that run several channels at once."""

from __future__ import annotations

import textwrap

from tests.mailservers.dovecot import PASSWORD

MAILBOX = "support@example.com"
OUR_SMS = "10690000"


def email_toml(imap_port: int, smtp_port: int) -> str:
    return textwrap.dedent(f"""\
        kind = "email"
        address = "{MAILBOX}"
        [imap]
        host = "127.0.0.1"
        port = {imap_port}
        security = "none"
        username = "{MAILBOX}"
        password = "{PASSWORD}"
        idle_renew_s = 5
        [smtp]
        host = "127.0.0.1"
        port = {smtp_port}
        security = "none"
        """)


def sms_toml(smsc_port: int) -> str:
    return textwrap.dedent(f"""\
        kind = "sms"
        address = "{OUR_SMS}"
        region = "CN"
        [smpp]
        port = {smsc_port}
        system_id = "cic"
        password = "secret"
        enquire_link_s = 2
        timeout_s = 5
        """)


def voice_toml(outbound_port: int, esl_port: int) -> str:
    return f'kind = "voice"\noutbound_bind = "127.0.0.1:{outbound_port}"\nesl_port = {esl_port}\nring_s = 5\n'
