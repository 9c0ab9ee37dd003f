"""The integration API's description, OpenAPI 3.1, made from the operations the API serves: the
same pydantic models validate a request body and describe it, so the document cannot drift
from what the handlers accept and answer."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

from pydantic import BaseModel, Field

from .access import SCOPES

_ARG = re.compile(r"<(?:(int|string):)?([a-z_]+)>")
REF = "#/components/schemas/{model}"


class Error(BaseModel):
    error: str = Field(description="what was wrong, for a person to read")


@dataclass(frozen=True)
class Operation:
    """One endpoint: its werkzeug rule, the scope a token needs, and its models."""

    method: str
    rule: str
    scope: str
    summary: str
    handler: Callable[..., Any]
    response: type[BaseModel]
    status: int = 200
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()
    tag: str = ""
    description: str = ""
    also: dict[int, tuple[type[BaseModel], str]] = field(default_factory=dict)  # other success answers

    @property
    def path(self) -> str:
        return _ARG.sub(lambda m: "{" + m.group(2) + "}", self.rule)

    @property
    def operation_id(self) -> str:
        return self.handler.__name__.strip("_")


_ERROR_TEXT = {400: "the request is not valid", 401: "no token, or an unknown or revoked one",
               403: "the token lacks the scope", 404: "no such resource", 409: "it conflicts with what is there",
               413: "too large", 415: "send JSON", 429: "too many requests; see Retry-After"}


def document(operations: Sequence[Operation], title: str, version: str, description: str) -> dict[str, Any]:
    schemas: dict[str, Any] = {}

    def ref(model: type[BaseModel], mode: str) -> dict[str, str]:
        found = model.model_json_schema(ref_template=REF, mode=mode)
        for name, sub in found.pop("$defs", {}).items():
            schemas.setdefault(name, sub)
        schemas.setdefault(model.__name__, found)
        return {"$ref": REF.format(model=model.__name__)}

    error = ref(Error, "serialization")
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        entry: dict[str, Any] = {
            "operationId": op.operation_id, "summary": op.summary, "tags": [op.tag] if op.tag else [],
            "security": [{"token": [op.scope]}],
            "responses": {str(op.status): {"description": "done",
                                           "content": {"application/json": {"schema": ref(op.response, "serialization")}}}},
        }
        for status, (model, said) in op.also.items():
            entry["responses"][str(status)] = {"description": said,
                                               "content": {"application/json": {"schema": ref(model, "serialization")}}}
        if op.description:
            entry["description"] = op.description
        parameters = [{"name": m.group(2), "in": "path", "required": True,
                       "schema": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1} if m.group(1) == "int"
                       else {"type": "string"}} for m in _ARG.finditer(op.rule)]
        if op.query is not None:
            query = op.query.model_json_schema(mode="validation")
            for name, prop in query.get("properties", {}).items():
                parameters.append({"name": name, "in": "query", "required": name in query.get("required", []),
                                   "schema": {k: v for k, v in prop.items() if k != "title"},
                                   **({"description": prop["description"]} if "description" in prop else {})})
        if parameters:
            entry["parameters"] = parameters
        if op.body is not None:
            entry["requestBody"] = {"required": True,
                                    "content": {"application/json": {"schema": ref(op.body, "validation")}}}
        for status in sorted({401, 403, 429, *op.errors, *((400, 413, 415) if op.body else ())}):
            entry["responses"][str(status)] = {"description": _ERROR_TEXT.get(status, "refused"),
                                               "content": {"application/json": {"schema": error}}}
        paths.setdefault(op.path, {})[op.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"token": {
                "type": "http", "scheme": "bearer",
                "description": "An API token an admin created for the integration, with its scopes: "
                               + "; ".join(f"{name}: {said}" for name, said in SCOPES.items())}},
        },
    }


def page(doc: dict[str, Any]) -> str:
    """The document as a page a person reads: every operation, its scope, parameters and body."""
    out = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{escape(doc['info']['title'])}</title>"
           "<link rel='stylesheet' href='/static/inbox.css'></head><body class='api-doc'><main>",
           f"<h1>{escape(doc['info']['title'])} <small>{escape(doc['info']['version'])}</small></h1>",
           f"<p>{escape(doc['info']['description'])}</p>",
           "<p>Machine-readable: <a href='/api/v1/openapi.json'>/api/v1/openapi.json</a> (OpenAPI 3.1).</p>"]
    schemas = doc["components"]["schemas"]
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            scopes = ", ".join(s for req in op["security"] for v in req.values() for s in v)
            out.append(f"<section class='api-op' id='{escape(op['operationId'])}'>"
                       f"<h2><code>{method.upper()} {escape(path)}</code></h2><p>{escape(op['summary'])}</p>"
                       f"<p>Scope: <code>{escape(scopes)}</code></p>")
            if op.get("description"):
                out.append(f"<p>{escape(op['description'])}</p>")
            params = op.get("parameters", [])
            if params:
                out.append("<h3>Parameters</h3><ul>" + "".join(
                    f"<li><code>{escape(p['name'])}</code> ({p['in']}{', required' if p['required'] else ''})"
                    f"{' — ' + escape(p['description']) if p.get('description') else ''}</li>" for p in params) + "</ul>")
            if "requestBody" in op:
                name = op["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
                out.append(f"<h3>Body: {escape(name)}</h3>" + _fields(schemas.get(name, {})))
            out.append("<h3>Answers</h3><ul>" + "".join(
                f"<li><code>{code}</code> {escape(r['description'])}</li>" for code, r in op["responses"].items()) + "</ul>")
            out.append("</section>")
    out.append("</main></body></html>")
    return "".join(out)


def _fields(schema: dict[str, Any]) -> str:
    required = set(schema.get("required", []))
    return "<ul>" + "".join(
        f"<li><code>{escape(name)}</code>{' (required)' if name in required else ''}"
        f"{' — ' + escape(prop['description']) if prop.get('description') else ''}</li>"
        for name, prop in schema.get("properties", {}).items()) + "</ul>"
