"""Requests the engine makes to the company's other systems (webhook receivers, CRM lookups).
Redirects are not followed: urllib would turn a redirected POST into a GET without its body,
and a webhook would count as delivered when nothing was; an answer of 3xx is an answer to
report, not a place to go."""

from __future__ import annotations

import urllib.request
from typing import Any


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl) -> None:
        return None  # urllib then raises HTTPError with the 3xx answer


_OPENER = urllib.request.build_opener(_NoRedirects)


def urlopen(request: urllib.request.Request, timeout: float) -> Any:
    """urllib.request.urlopen, without following redirects."""
    return _OPENER.open(request, timeout=timeout)
