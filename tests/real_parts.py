"""The real parts the tests run against (FreeSWITCH, Chromium, SIPp) and what their absence
means. `make test` installs every one of them and says so with CIC_REAL_PARTS=required: there a
missing part is a broken test bed and fails the test, naming the part. A plain `pytest` run on a
machine without one skips those tests, naming it too."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import pytest

from tests.web.browser import CHROMIUM


def required() -> bool:
    return os.environ.get("CIC_REAL_PARTS") == "required"


def missing(reason: str) -> NoReturn:
    if required():
        pytest.fail(f"{reason}: under make test a missing part is a broken test bed, not a skip", pytrace=False)
    pytest.skip(reason)


def chromium_missing() -> str | None:
    return None if Path(CHROMIUM).exists() else f"no Chromium at {CHROMIUM} (make test installs Debian's chromium)"


# For a browser test: the check runs as the test starts (a fixture of tests/conftest.py).
needs_chromium = pytest.mark.usefixtures("chromium")
