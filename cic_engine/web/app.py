"""The WSGI application: werkzeug's routing and request parsing, JSON answers, and the headers
every response carries. Handlers take (request, **url args) and return a werkzeug Response,
(status, JSON body), or TAKEN once they served a WebSocket.

Every route says who may call it (`allow`); the app checks that, the Host, the Origin of
state-changing requests and the body limits before a handler runs (access.py), so a route
cannot be added without a rule and no handler can forget one."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, RequestEntityTooLarge
from werkzeug.routing import Map, Rule, WebsocketMismatch
from werkzeug.wrappers import Request, Response

from .access import Allow, Guard, check_allow
from .errors import HttpError

log = logging.getLogger(__name__)

Handler = Callable[..., Any]
TAKEN = object()  # a handler that served a WebSocket returns this: the socket is already answered
MAX_BODY_BYTES = 32 * 1024 * 1024  # uploads have their own, smaller limits; this stops the absurd
BIGINT_MAX = 2**63 - 1


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body, default=str, ensure_ascii=False), status=status,
                    content_type="application/json; charset=utf-8", headers=headers)


def read_json(request: Request, limit: int = 1024 * 1024) -> dict[str, Any]:
    """The request's JSON object. A JSON content type is required: a cross-site HTML form
    cannot send one, which (with SameSite cookies) keeps forged posts out. The limit holds for
    a chunked body too (read through a limited stream), and NUL, which no text we keep may
    hold, is refused here once for every handler."""
    if request.mimetype != "application/json":
        raise HttpError(415, "send JSON (Content-Type: application/json)")
    raw = read_body(request, limit)
    try:
        body = json.loads(raw or b"null")
    except RecursionError:
        raise HttpError(400, "body is nested too deeply") from None
    except ValueError as exc:
        raise HttpError(400, f"body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise HttpError(400, "body must be a JSON object")
    if _holds_nul(body):
        raise HttpError(400, "text must not contain NUL characters")
    return body


def read_body(request: Request, limit: int, what: str = "request body") -> bytes:
    """The request's body, at most `limit` bytes (413 past it). A chunked body names no length:
    it is read through a stream that stops one byte past the limit, and reaching that byte is
    too large, so nothing larger is ever read."""
    if (request.content_length or 0) > limit:
        raise HttpError(413, f"{what} over {limit} bytes")
    request.max_content_length = min(limit + 1, request.max_content_length or limit + 1)
    try:
        raw = request.get_data(cache=False, as_text=False)
    except RequestEntityTooLarge:
        raw = b"x" * (limit + 1)
    if len(raw) > limit:
        raise HttpError(413, f"{what} over {limit} bytes")
    return raw


def _holds_nul(value: Any) -> bool:
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


class WebApp:
    def __init__(self, guard: Guard | None = None) -> None:
        self.url_map = Map(strict_slashes=False)
        self.handlers: dict[str, Handler] = {}
        self.allowed: dict[str, Allow] = {}  # endpoint -> who may call it
        self.adapter_endpoints: dict[str, set[str]] = {}  # adapter -> the endpoints it routed
        self.guard = guard or Guard()
        # Where the pages may open connections besides the engine: the softphone's switch.
        self.connect_sources: Callable[[], list[str]] = lambda: []
        # Origins the pages may frame: a CRM's own page in the screen pop ([[integrations.crm]] frame).
        self.frame_sources: Callable[[], list[str]] = lambda: []

    def route(self, rule: str, handler: Handler, methods: tuple[str, ...] = ("GET",), websocket: bool = False, *,
              allow: Allow) -> str:
        """Serve `rule` with `handler` to whom `allow` names (access.py); routing a rule again (an
        adapter restarted by a reload) replaces its handler. Returns the rule's endpoint."""
        check_allow(allow)
        endpoint = f"{'|'.join(methods)} {rule}"
        if endpoint not in self.handlers:
            self.url_map.add(Rule(rule, endpoint=endpoint, methods=list(methods), websocket=websocket))
        self.handlers[endpoint] = handler
        self.allowed[endpoint] = allow
        return endpoint

    def __call__(self, environ: dict, start_response) -> Any:
        request = Request(environ)
        request.max_content_length = MAX_BODY_BYTES  # chunked bodies too: pywsgi marks its input terminated
        response = self._dispatch(request)
        if response is TAKEN:
            return []
        _harden(response, self.connect_sources(), self.frame_sources())
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> Any:
        try:
            self.guard.arrived(request)
            endpoint, args = self.url_map.bind_to_environ(request.environ).match()
            if any(isinstance(value, int) and value > BIGINT_MAX for value in args.values()):
                raise NotFound()  # no id the database can hold: no such resource (not an error in a query)
        except NotFound:
            return json_response(404, {"error": f"no such resource: {request.path}"})
        except MethodNotAllowed:
            return json_response(405, {"error": f"method {request.method} not allowed on {request.path}"})
        except WebsocketMismatch:
            return json_response(400, {"error": f"{request.path} is {'not ' if request.environ.get('HTTP_UPGRADE') else ''}"
                                                "a WebSocket endpoint"})
        except HttpError as exc:
            return json_response(exc.status, {"error": exc.message}, exc.headers)
        except HTTPException as exc:  # e.g. a redirect to the canonical URL
            return exc.get_response(request.environ)
        try:
            self.guard.admit(request, self.allowed[endpoint])
            result = self.handlers[endpoint](request, **args)
        except HttpError as exc:
            return json_response(exc.status, {"error": exc.message}, exc.headers)
        except HTTPException as exc:  # werkzeug's own, e.g. 413 from form parsing
            return json_response(exc.code or 400, {"error": exc.description or exc.name})
        except TimeoutError:  # the body stopped arriving ([web] body_timeout_s)
            return json_response(408, {"error": "the request body did not arrive in time"})
        except Exception:
            log.exception("handler for %s %s failed", request.method, request.path)
            return json_response(500, {"error": "internal error; see the engine log"})
        if result is TAKEN or isinstance(result, Response):
            return result
        status, body = result
        return json_response(status, body)


class AdapterRoutes:
    """What an adapter sees of the web app: it adds routes, and when the adapter is stopped
    for good (a reload removed it) they answer 404 instead of reaching a stopped adapter."""

    def __init__(self, app: WebApp, adapter: str):
        self.app = app
        self.adapter = adapter

    def route(self, rule: str, handler: Handler, methods: tuple[str, ...] = ("GET",), websocket: bool = False, *,
              allow: Allow) -> str:
        endpoint = self.app.route(rule, handler, methods, websocket, allow=allow)
        self.app.adapter_endpoints.setdefault(self.adapter, set()).add(endpoint)
        return endpoint

    def retire(self) -> None:
        for endpoint in self.app.adapter_endpoints.pop(self.adapter, set()):
            self.app.handlers[endpoint] = _gone

    def __getattr__(self, name: str):
        return getattr(self.app, name)  # anything else an adapter uses of the app


def _gone(request: Request, **_args) -> Response:
    return json_response(404, {"error": f"no such resource: {request.path} (its channel was removed)"})


SELF = ("'self'",)


def _harden(response: Response, connect: list[str] | tuple[str, ...] = (), frames: list[str] | tuple[str, ...] = ()) -> None:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    if response.mimetype == "application/json":
        headers.setdefault("Cache-Control", "no-store")
    if response.mimetype == "text/html":
        # Scripts only from our own files: an injected <script> or onerror= does not run even
        # if something user-supplied were ever put on a page unescaped.
        headers.setdefault("Content-Security-Policy",
                           "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
                           f"connect-src {' '.join(SELF + tuple(connect))}; frame-src {' '.join(SELF + tuple(frames))}; "
                           "object-src 'none'; base-uri 'none'; "
                           "frame-ancestors 'none'")
        headers.setdefault("X-Frame-Options", "DENY")
