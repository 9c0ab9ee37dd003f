"""WSGI application: routes to small handlers that return (status, JSON body)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

log = logging.getLogger(__name__)

Handler = Callable[[dict], tuple[int, Any]]


def _json_response(start_response, status: int, body: Any) -> list[bytes]:
    payload = json.dumps(body, default=str, ensure_ascii=False).encode()
    phrase = HTTPStatus(status).phrase
    start_response(
        f"{status} {phrase}",
        [("Content-Type", "application/json; charset=utf-8"), ("Content-Length", str(len(payload))),
         ("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff")],
    )
    return [payload]


class WebApp:
    def __init__(self, routes: dict[tuple[str, str], Handler]):
        self.routes = routes

    def __call__(self, environ: dict, start_response) -> list[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "/")
        handler = self.routes.get((method, path))
        if handler is None:
            if any(p == path for _, p in self.routes):
                return _json_response(start_response, 405, {"error": f"method {method} not allowed on {path}"})
            return _json_response(start_response, 404, {"error": f"no such resource: {path}"})
        try:
            status, body = handler(environ)
        except Exception:
            log.exception("handler for %s %s failed", method, path)
            return _json_response(start_response, 500, {"error": "internal error; see the engine log"})
        return _json_response(start_response, status, body)
