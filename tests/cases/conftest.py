"""Case tests that go through the web API use tests/web's engine fixtures."""

from tests.web.conftest import start_web  # noqa: F401 - the fixture, shared
