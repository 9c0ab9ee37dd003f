"""Fault drills: real servers, real engine processes, killed and restarted."""

from tests.email.conftest import dovecot, routing, smtp, start_mail_engine  # noqa: F401 - shared fixtures
