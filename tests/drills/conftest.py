"""Fault drills: real servers, real engine processes, killed and restarted."""

from tests.email.conftest import routing, start_mail_engine  # noqa: F401 - shared fixtures
