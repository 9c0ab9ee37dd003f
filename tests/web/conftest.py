"""Web tests run a real `cic-engine run` with the inbox, the agent API and a web chat adapter,
and speak to it over HTTP and WebSockets as a browser would."""

from __future__ import annotations

import http.cookiejar
import json
import textwrap
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from cic_engine.web.auth import hash_password
from tests.core.test_run import engine_toml, free_port, print_engine_log, start, stop

PASSWORD = "correct horse battery"
HASH = hash_password(PASSWORD)


def web_config(tmp_path: Path, db_url: str, port: int, chat_extra: str = "", cic_extra: str = "",
               channels: dict[str, str] | None = None, chat_queue: str = "chat", web_extra: str = "",
               routing_extra: str = "") -> Path:
    (tmp_path / "channels").mkdir(exist_ok=True)
    for name, text in (channels or {}).items():
        (tmp_path / "channels" / f"{name}.toml").write_text(text)
    (tmp_path / "channels" / "webchat.toml").write_text(textwrap.dedent(f"""\
        kind = "webchat"
        queue = "{chat_queue}"
        title = "Chat with Example"
        greeting = "Hello from the test"
        """) + chat_extra)
    config = tmp_path / "cic.toml"
    config.write_text(engine_toml("web-node", db_url, port) + web_extra + textwrap.dedent(f"""\
        [routing]
        offer_timeout_s = 120
        {routing_extra}
        [[queues]]
        name = "general"
        [[queues]]
        name = "chat"
        channels = ["chat"]
        wrap_up_s = 300
        [[queues]]
        name = "billing"
        channels = ["chat", "email"]
        [[agents]]
        login = "alice"
        name = "Alice Chen"
        queues = ["chat", "general"]
        password_hash = "{HASH}"
        [[agents]]
        login = "bob"
        name = "Bob Smith"
        queues = ["billing"]
        password_hash = "{HASH}"
        [[agents]]
        login = "sue"
        name = "Sue Visor"
        roles = ["supervisor"]
        queues = ["chat", "general"]
        password_hash = "{HASH}"
        """) + cic_extra)
    return config


def _body(response) -> dict:
    """A JSON answer as it is; anything else (a page, a file, metrics) as {"raw": bytes}."""
    raw = response.read()
    if response.headers.get_content_type() != "application/json":
        return {"raw": raw}
    return json.loads(raw or b"{}")


class Api:
    """A browser's view of the JSON API: one cookie jar, Origin of the engine."""

    def __init__(self, base: str):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def call(self, method: str, path: str, body: dict | None = None, content_type: str = "application/json",
             raw: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, dict]:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={**({"Content-Type": content_type} if data is not None else {}),
                                                  **(headers or {})})
        try:
            with self.opener.open(request, timeout=20) as response:
                return response.status, _body(response)
        except urllib.error.HTTPError as exc:
            return exc.code, _body(exc)

    def login(self, login: str, password: str = PASSWORD) -> Api:
        status, body = self.call("POST", "/api/login", {"login": login, "password": password})
        assert status == 200, body
        return self

    @property
    def cookie(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.jar)


class WebEngine:
    def __init__(self, tmp_path: Path, db_url: str):
        self.tmp_path = tmp_path
        self.db_url = db_url
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.ws_base = f"ws://127.0.0.1:{self.port}"
        self.proc = None

    def start(self, chat_extra: str = "", cic_extra: str = "", channels: dict[str, str] | None = None,
              chat_queue: str = "chat", web_extra: str = "", routing_extra: str = "") -> WebEngine:
        """Extra settings: chat_extra (channels/webchat.toml), cic_extra (cic.toml), web_extra (its
        [web] section), channels={name: toml}."""
        config = web_config(self.tmp_path, self.db_url, self.port, chat_extra, cic_extra, channels, chat_queue,
                            web_extra, routing_extra)
        self.proc = start(config, log=self.tmp_path / "engine.log")
        return self

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=30)

    def restart(self) -> None:
        self.proc = start(self.tmp_path / "cic.toml", log=self.tmp_path / "engine.log")

    def api(self) -> Api:
        return Api(self.base)


@pytest.fixture
def web(start_web):
    return start_web()


@pytest.fixture
def start_web(tmp_path, db_url):
    """Start the web test engine with extra settings: chat_extra, cic_extra, channels={name: toml}."""
    started: list[WebEngine] = []

    def start_with(**settings) -> WebEngine:
        started.append(WebEngine(tmp_path, db_url).start(**settings))
        return started[-1]
    yield start_with
    for engine in started:
        if engine.proc.poll() is None:
            assert stop(engine.proc) == 0
    print_engine_log(tmp_path)
