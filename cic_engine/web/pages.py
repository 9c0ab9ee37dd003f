"""The inbox page, the demo customer page and their static files (cic_engine/web/static),
read once at start: they are small and the engine serves them often."""

from __future__ import annotations

import hashlib
import mimetypes
from pathlib import Path

from werkzeug.wrappers import Request, Response

from .access import PUBLIC
from .app import HttpError, WebApp

STATIC = Path(__file__).resolve().parent / "static"
PAGES = {"/": "inbox.html", "/demo": "demo.html", "/department": "department.html"}


class Pages:
    def __init__(self, directory: Path = STATIC):
        self.files: dict[str, tuple[bytes, str, str]] = {}
        for path in sorted(directory.iterdir()):
            if path.is_file():
                content = path.read_bytes()
                kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                if kind.startswith("text/") or kind == "application/javascript" or kind.endswith("+xml"):
                    kind += "; charset=utf-8"
                self.files[path.name] = (content, kind, hashlib.sha256(content).hexdigest()[:16])

    def mount(self, app: WebApp) -> None:
        for url, name in PAGES.items():
            app.route(url, lambda request, name=name: self._file(request, name), allow=PUBLIC)
        app.route("/static/<name>", self._file, allow=PUBLIC)

    def _file(self, request: Request, name: str) -> Response:
        found = self.files.get(name)
        if found is None:
            raise HttpError(404, f"no such file: {name}")
        content, kind, etag = found
        response = Response(content, content_type=kind)
        response.set_etag(etag)
        response.headers["Cache-Control"] = "no-cache"  # revalidate: an upgrade is seen at once
        if name == "widget.js":
            response.headers["Access-Control-Allow-Origin"] = "*"  # embedded by the company's sites
        return response.make_conditional(request)
