"""The error a handler (or the access checks before it) raises to answer a request."""

from __future__ import annotations


class HttpError(Exception):
    """An answer given by raising: status and a message for the user."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
