"""Passwords in adapter files: inline (for tests), or better by environment variable or file."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, SecretStr, model_validator


class Secret(BaseModel):
    """A password given inline (for tests), or better by environment variable or file."""

    model_config = ConfigDict(extra="forbid")

    password: SecretStr | None = None
    password_env: str | None = None
    password_file: str | None = None

    @model_validator(mode="after")
    def _one(self) -> Secret:
        given = [x for x in (self.password, self.password_env, self.password_file) if x]
        if len(given) > 1:
            raise ValueError("give one of password, password_env, password_file")
        return self

    def read(self, what: str) -> str:
        if self.password_env:
            value = os.environ.get(self.password_env)
            if value is None:
                raise ValueError(f"{what}: environment variable {self.password_env} is not set")
            return value
        if self.password_file:
            try:
                return Path(self.password_file).read_text().strip()
            except OSError as exc:
                raise ValueError(f"{what}: cannot read password_file {self.password_file}: {exc}") from None
        return self.password.get_secret_value() if self.password else ""
