"""Fax tests run a real engine with the web inbox (tests/web's fixtures) on the simulated switch."""

from tests.web.conftest import start_web  # noqa: F401 - the fixture, shared
