"""Web chat: customers chat from the company's web site through the widget (one <script> tag).

The widget talks to the engine over one WebSocket. A message is committed (ingest) before it is
acknowledged, and the widget keeps what is not acknowledged yet and sends it again after a
reconnect, with the same id, which ingest de-duplicates: nothing lost, nothing doubled.
Agents' replies go through the outbox like any channel's; "delivering" one is storing it,
and every socket of the chat (any node, any tab) is told by the message's live event.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import json
import logging
import re
import secrets
import uuid
from datetime import timedelta
from typing import Annotated, ClassVar
from urllib.parse import quote

import gevent
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from werkzeug.wrappers import Request, Response

from .. import poison
from ..identity import InvalidIdentity, chat_sender, normalise_email
from ..ingest_batch import IngestBatcher
from ..models import (
    AdapterHealth,
    Attachment,
    Channel,
    ContentPart,
    DeliveryResult,
    IdentityKind,
    InboundContact,
    OutboundMessage,
    safe_filename,
)
from ..replies import ReplyRefused
from ..routing.events import RoutingEvent
from ..routing.schedule import is_open
from ..store import chat as store_chat
from ..web.access import PUBLIC, client_address
from ..web.app import TAKEN, HttpError, json_response
from ..web.limits import OpenCount, RateLimit
from ..web.live import TYPING_EVENT, notify_typing
from ..web.websocket import WebSocket, WebSocketRefused
from . import AdapterContext
from .secret import Secret
from .webchat_call import WebCallConfig, WebCalls

log = logging.getLogger(__name__)
CODE_VALID_S = 15 * 60
CODE_TRIES = 5
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
# What a file of each type starts with: a file is taken only when its bytes agree with the type
# it claims, so an HTML page or a program cannot come in named "photo.png".
_MAGIC = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "application/pdf": (b"%PDF-",),
}


def file_problem(content: bytes, content_type: str, allowed: list[str], limit: int) -> str | None:
    """Why a customer's file is refused, in words for the customer; None when it is fine."""
    if len(content) > limit:
        return f"the file is {len(content) / 1024 / 1024:.1f} MB; the limit is {limit / 1024 / 1024:g} MB"
    if content_type not in allowed:
        return f"files of type {content_type or 'unknown'} are not accepted (accepted: {', '.join(allowed)})"
    if content_type == "text/plain":
        try:
            content.decode("utf-8")
        except UnicodeDecodeError:
            return "the text file is not UTF-8 text"
        return None
    magic = _MAGIC.get(content_type)
    if magic is not None and not content.startswith(magic):
        return f"the file is not really {content_type}"
    return None


class ChatLimits(BaseModel):
    """What one client address, or one chat, may do; past it, a clear refusal."""

    model_config = ConfigDict(extra="forbid")

    sockets_per_address: int = Field(20, ge=1, le=100_000, description="open chat sockets from one address")
    chats_per_minute: int = Field(6, ge=1, le=100_000, description="new chats from one address per minute")
    messages_per_second: float = Field(2, gt=0, le=1000, description="per chat, in bursts of up to 10")
    uploads_per_minute: int = Field(6, ge=1, le=10_000, description="files per chat per minute")
    offline_forms_per_hour: int = Field(5, ge=1, le=100_000, description="offline messages from one address per hour")
    codes_per_chat: int = Field(3, ge=1, le=20, description="email confirmation codes one chat may ask for")


# Every string the widget shows a customer, by key (static/widget.js has the English and
# Chinese defaults); a channel file overrides any of them per language under [texts."zh-CN"].
WIDGET_LANGUAGES = ("en", "zh-CN")
WIDGET_TEXTS = (
    "title", "greeting", "name", "email_optional", "start", "your_email", "your_message", "closed_intro",
    "send_message", "typing", "type_message", "send_file", "send", "transcript", "confirm_email", "code_placeholder",
    "code_label", "confirm", "connecting", "reconnecting", "offline_thanks", "code_sent", "verified",
    "file_too_large", "file_unavailable", "you", "agent", "joined", "agent_ended", "transferring", "requeued",
    "new_chat", "end_chat", "you_ended", "score_label", "minimize", "still_waiting", "call_us", "calling", "in_call",
    "hang_up", "mute", "unmute", "call_ended", "mic_blocked", "call_failed", "call_closed", "call_limit", "video_call",
)


def _check_texts(texts: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    for language, strings in texts.items():
        if language not in WIDGET_LANGUAGES:
            raise ValueError(f"texts.{language}: the widget speaks {', '.join(WIDGET_LANGUAGES)}")
        unknown = sorted(set(strings) - set(WIDGET_TEXTS))
        if unknown:
            raise ValueError(f"texts.{language}: no widget text named {', '.join(unknown)} "
                             f"(known: {', '.join(WIDGET_TEXTS)})")
        for key, value in strings.items():
            if not value.strip() or len(value) > 1000:
                raise ValueError(f"texts.{language}.{key}: 1 to 1000 characters")
    return texts


class WebChatConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    queue: str | None = Field(None, description="queue for the chats; default: the engine's default queue")
    title: str = Field("Chat with us", max_length=100)
    greeting: str = Field("Hello! How can we help you today?", max_length=1000)
    texts: Annotated[dict[str, dict[str, str]], AfterValidator(_check_texts)] = Field(
        default_factory=dict, description='the widget\'s words per language, e.g. [texts."zh-CN"] title = "在线客服"')
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="web sites that may embed the widget, e.g. https://www.example.com; the engine's own always may")
    max_message_chars: int = Field(4000, ge=1, le=100_000)
    waiting_notice_s: float = Field(60, ge=0, le=3600, description="a customer still in line is told so this often "
                                    "(0: never)")
    max_upload_mb: float = Field(5, gt=0, le=25, description="largest file a customer may send")
    upload_types: list[str] = Field(
        default_factory=lambda: ["image/png", "image/jpeg", "image/gif", "application/pdf", "text/plain"],
        description="content types a customer may send; the file's first bytes must agree")
    limits: ChatLimits = Field(default_factory=ChatLimits)
    call: WebCallConfig | None = Field(None, description="a 'call us' button: the visitor talks to an agent "
                                       "from the browser (WebRTC through the switch's visitor profile)")
    visitor_secret: Secret | None = Field(
        None, description="shared with the company's site, which vouches for a logged-in visitor with "
        "hex(HMAC-SHA256(secret, user_id + '\\n' + email)); such a chat is the customer with that email at once")


def _share_with_origin(response: Response, request: Request, extra: dict[str, str] | None = None) -> Response:
    """CORS for an allowed site's widget (the caller has checked the origin): this origin, and
    caches told the answer depends on it."""
    response.headers["Access-Control-Allow-Origin"] = request.headers["Origin"]
    response.headers["Vary"] = "Origin"
    response.headers.update(extra or {})
    return response


def _token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def visitor_signature(secret: str, user_id: str, email: str) -> str:
    """What the company's site signs to vouch for a logged-in visitor (hex HMAC-SHA256)."""
    return hmac.new(secret.encode(), f"{user_id}\n{email}".encode(), hashlib.sha256).hexdigest()


def chat_contact(adapter: str, queue: str | None, session: store_chat.ChatSession, client_id: str, text: str,
                 attachments: list[Attachment]) -> InboundContact:
    """The contact a customer's chat message makes."""
    # An email the customer only says is theirs is a claim: the chat stays its own customer
    # (and agents see the claim as such) until it is proved.
    sender, sender_kind = chat_sender(session.key, session.email, session.email_verified)
    metadata = {"adapter": adapter}
    if session.language:
        metadata["language"] = session.language
    if session.email and sender_kind is not IdentityKind.email:
        metadata["claimed_email"] = session.email
    return InboundContact(
        channel=Channel.chat, endpoint=adapter, external_id=f"chat:{session.key}:{client_id}",
        sender=sender, sender_kind=sender_kind,
        sender_name=session.name, conversation_key=session.key, parts=[ContentPart(body=text)],
        attachments=attachments, queue=queue, metadata=metadata,
    )


class WebChatAdapter:
    kind: ClassVar[str] = "webchat"
    channel: ClassVar[str] = "chat"
    Config: ClassVar[type[BaseModel]] = WebChatConfig

    def __init__(self, name: str, config: BaseModel, context: AdapterContext):
        assert isinstance(config, WebChatConfig)
        self.name = name
        self.config = config
        self.context = context
        self.sockets = 0
        self.messages_in = 0
        self.refused = 0  # over a limit
        self.last_error: str | None = None
        limits = config.limits
        self.open_sockets = OpenCount(limits.sockets_per_address)
        self.new_chats = RateLimit(limits.chats_per_minute, limits.chats_per_minute / 60)
        self.messages = RateLimit(10, limits.messages_per_second)
        self.uploads = RateLimit(limits.uploads_per_minute, limits.uploads_per_minute / 60)
        self.offline_forms = RateLimit(limits.offline_forms_per_hour, limits.offline_forms_per_hour / 3600)
        self.calls = WebCalls(self, config.call) if config.call else None
        # Messages that arrive while one commit is under way share the next (each acknowledged after it).
        self.batcher = IngestBatcher(context.engine)
        self.visitor_secret = config.visitor_secret.read(f"{name}.visitor_secret") if config.visitor_secret else None
        if config.visitor_secret is not None and not self.visitor_secret:
            raise ValueError(f"{name}.visitor_secret is empty")

    # Lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        if self.context.web is None:
            raise RuntimeError("web chat needs the node's web server")
        if self.calls is not None and self.calls.queue() not in {q.name for q in self.context.engine.cic.queues}:
            raise ValueError(f"web chat {self.name}: call.queue {self.calls.queue()!r} is no queue in cic.toml")
        self.context.web.route(f"/chat/{self.name}/socket", self.serve, websocket=True, allow=PUBLIC)
        self.context.web.route(f"/chat/{self.name}/settings", self.settings, allow=PUBLIC)
        # The chat's own token (a header, never the URL) is the key: only files of its conversation.
        self.context.web.route(f"/chat/{self.name}/files/<int:attachment_id>", self.file, ("GET", "OPTIONS"),
                               allow=PUBLIC)

    def stop(self, timeout: float) -> None:
        pass  # sockets end with the web server; the widgets reconnect and resume elsewhere

    def health(self) -> AdapterHealth:
        return AdapterHealth(ok=True, state="running", last_error=self.last_error,
                             detail={"sockets": self.sockets, "messages_in": self.messages_in, "refused": self.refused})

    def deliver(self, outbound: OutboundMessage) -> DeliveryResult:
        if outbound.channel != Channel.chat:
            return DeliveryResult(ok=False, error=f"web chat cannot send {outbound.channel}; no adapter for it is set up")
        # Stored is delivered: the outbox's "sent" writes the message, whose event reaches the
        # customer's socket wherever it is; a widget that is away reads it when it resumes.
        return DeliveryResult(ok=True, external_id=outbound.message_id or f"<chat.{outbound.outbox_id}@cic.invalid>")

    # The widget's settings and socket ----------------------------------------------------------

    def contact(self, session: store_chat.ChatSession, client_id: str, text: str,
                attachments: list[Attachment]) -> InboundContact:
        return chat_contact(self.name, self.config.queue, session, client_id, text, attachments)

    def reingest(self, raw: bytes | None, source: dict[str, str]) -> int | None:
        try:
            frame = json.loads(raw or b"")
        except ValueError:
            frame = None  # a frame that was never JSON stays rejected, with this reason
        if not isinstance(frame, dict) or frame.get("type") != "message" or not isinstance(frame.get("text"), str):
            raise ValueError("not a chat message the customer sent")
        with self.context.engine.store.transaction() as conn:
            session = store_chat.by_key(conn, source["chat"])
        if session is None:
            raise ValueError(f"the chat {source['chat']} is no longer on record")
        files = [Attachment(filename=f["filename"], content_type=f["content_type"], content=base64.b64decode(f["data"]))
                 for f in frame.get("files") or []]
        return self.context.engine.ingest(self.contact(session, str(frame["id"]), frame["text"], files)).interaction_id

    def _origin_allowed(self, request: Request) -> bool:
        origin = request.headers.get("Origin")
        if origin is None:
            return False
        return origin.split("://", 1)[-1] == request.host or origin in self.config.allowed_origins

    def chat_queue(self) -> str:
        return self.config.queue or self.context.engine.cic.engine.default_queue

    def is_open(self, name: str | None = None) -> bool:
        """Whether the chat queue (or the queue named) is within its opening hours now (the chat
        queue closed: the offline form)."""
        name = name or self.chat_queue()
        queue = next((q for q in self.context.engine.cic.queues if q.name == name), None)
        return queue is None or is_open(queue.hours, self.context.engine.clock.now())

    def email_adapter(self) -> str | None:
        found = self.context.replies.adapter_for("email") if self.context.replies else None
        return found[0] if found else None

    def settings(self, request: Request):
        response = json_response(200, {"title": self.config.title, "greeting": self.config.greeting,
                                        "texts": self.config.texts,
                                        "open": self.is_open(), "transcripts": self.email_adapter() is not None,
                     "max_message_chars": self.config.max_message_chars, "max_upload_mb": self.config.max_upload_mb,
                     "upload_types": self.config.upload_types,
                     # the call button: shown while the call queue is open
                     "call": self.calls is not None and self.calls.is_open(),
                     "video_call": self.calls is not None and self.calls.config.video and self.calls.is_open()})
        if self._origin_allowed(request):  # read by the widget on the company's site
            _share_with_origin(response, request)
        return response

    def file(self, request: Request, attachment_id: int):
        if request.method == "OPTIONS":
            return self._file_preflight(request)
        token = request.headers.get("X-Chat-Token", "")
        with self.context.engine.store.transaction() as conn:
            session = store_chat.get(conn, _token_hash(token), self.name) if 0 < len(token) <= 200 else None
            found = store_chat.file(conn, session.key, attachment_id) if session is not None else None
        if found is None:
            raise HttpError(404, "no such file in this chat")
        filename, _, content = found
        # Served as a download, never rendered in our origin; the widget previews images itself.
        response = Response(content, content_type="application/octet-stream")
        response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
        response.headers["X-Content-Type-Options"] = "nosniff"
        if self._origin_allowed(request):
            _share_with_origin(response, request, {"Access-Control-Allow-Headers": "X-Chat-Token"})
        return response

    def _file_preflight(self, request: Request):
        """A widget on the company's site asks first whether it may send the chat's token header."""
        if not self._origin_allowed(request):
            raise HttpError(403, f"origin {request.headers.get('Origin')!r} is not allowed")
        return _share_with_origin(Response(status=204), request, {
            "Access-Control-Allow-Methods": "GET", "Access-Control-Allow-Headers": "X-Chat-Token",
            "Access-Control-Max-Age": "600"})

    def serve(self, request: Request):
        if not self._origin_allowed(request):
            raise HttpError(403, f"chat from origin {request.headers.get('Origin')!r} is not allowed")
        address = client_address(request)
        if not self.open_sockets.enter(address):
            self.refused += 1
            raise HttpError(429, f"too many chats open from your network (at most "
                                 f"{self.config.limits.sockets_per_address}); close one and try again")
        try:
            try:
                # Room for a file half as large again as the limit, base64-encoded (4/3): one somewhat
                # over gets a clear answer; a frame beyond that closes the socket (1009).
                ws = WebSocket(request.environ,
                               max_message_bytes=int(self.config.max_upload_mb * 1024 * 1024 * 2) + 64 * 1024)
            except WebSocketRefused as exc:
                raise HttpError(400, str(exc)) from None
            self.sockets += 1
            try:
                CustomerChat(self, ws, address).run()
            finally:
                self.sockets -= 1
        finally:
            self.open_sockets.leave(address)
        return TAKEN

    def limited(self, limit: RateLimit, key: str) -> float | None:
        """Seconds to wait when `key` is over `limit` (counted as refused), else None."""
        wait = limit.take(key)
        if wait is not None:
            self.refused += 1
        return wait


class CustomerChat:
    """One widget connection. Before "start" or "resume" it can do nothing else."""

    def __init__(self, adapter: WebChatAdapter, ws: WebSocket, address: str = ""):
        self.adapter = adapter
        self.ws = ws
        self.address = address
        self.store = adapter.context.engine.store
        self.session: store_chat.ChatSession | None = None
        self.interactions: set[int] = set()
        self._unwatch: list = []
        self.pushed = 0  # the last message id this socket has shown
        # Messages this socket acknowledged: its widget shows them already, so their events need
        # no read (other tabs of the chat still read and show them).
        self._own: set[int] = set()
        self._told_ended: set[int] = set()  # interactions whose end the customer was told of
        self._waiting: gevent.Greenlet | None = None

    def send(self, **message) -> None:
        self.ws.send(json.dumps(message, default=str, ensure_ascii=False))

    def _follow(self, interaction_ids) -> None:
        """Hear the events of these interactions of the chat (from now on)."""
        for interaction_id in interaction_ids:
            if interaction_id not in self.interactions:
                self.interactions.add(interaction_id)
                self._unwatch.append(self.adapter.context.events.watch(interaction_id, self._on_event))

    def run(self) -> None:
        try:
            while (raw := self.ws.receive()) is not None:
                try:
                    message = json.loads(raw)
                    if not isinstance(message, dict):
                        raise ValueError("not a JSON object")
                except (ValueError, RecursionError) as exc:
                    if self.session is None:  # no chat yet: nothing to keep
                        self.send(type="error", error="messages must be JSON objects")
                    else:
                        data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else bytes(raw)
                        self._rejected(data, poison.reason(exc, "not a chat message"))
                    continue
                self._handle(message)
        finally:
            if self._waiting is not None:
                self._waiting.kill(block=False)
                self._waiting = None  # as WebSocket's pinger: no cycle through a killed greenlet
            for stop in self._unwatch:
                stop()
            self._unwatch = []
            self.ws.close()

    def _handle(self, message: dict) -> None:
        kind = message.get("type")
        if kind in ("start", "resume") and self.session is not None:
            self.send(type="error", error="this connection is in a chat already")
        elif kind == "start":
            self._start(message)
        elif kind == "offline":
            self._offline(message)
        elif kind == "resume":
            self._resume(message)
        elif self.session is None:
            self.send(type="error", error="start or resume the chat first")
        elif kind == "message":
            self._message(message)
        elif kind == "file":
            self._file(message)
        elif kind == "typing":
            for interaction_id in self.interactions:
                notify_typing(self.store, interaction_id, "customer")
        elif kind == "leave":
            self._leave()
        elif kind == "transcript":
            self._transcript()
        elif kind == "verify_email":
            self._send_code()
        elif kind == "verify_code":
            self._check_code(message)
        elif kind == "call" and self.adapter.calls is not None:
            self.adapter.calls.request(self, video=message.get("video") is True)
        else:
            self.send(type="error", error=f"unknown message type {kind!r}")

    def _start(self, message: dict) -> None:
        name = "".join(c for c in str(message.get("name") or "") if c.isprintable()).strip()[:200]
        email = str(message.get("email") or "").strip() or None
        if not name:
            self.send(type="error", error="please give your name")
            return
        wait = self.adapter.limited(self.adapter.new_chats, self.address)
        if wait is not None:
            self.send(type="error", code="rate-limited",
                      error=f"too many new chats from your network; try again in {int(wait) + 1} s")
            return
        site_user = None
        identity = message.get("identity")
        if identity is not None:
            site_user, email = self._vouched(identity)
            if site_user is None:
                return
        if email is not None:
            try:
                email = normalise_email(email)
            except InvalidIdentity:
                self.send(type="error", error="that email address does not look right")
                return
        language = message.get("language")
        language = language if language in WIDGET_LANGUAGES else None
        token, key = secrets.token_urlsafe(32), f"chat-{uuid.uuid4().hex}"
        with self.store.transaction() as conn:
            store_chat.create(conn, _token_hash(token), key, self.adapter.name, name, email,
                              self.adapter.context.engine.clock.now(), site_user, language)
        self.session = store_chat.ChatSession(key=key, adapter=self.adapter.name, name=name, email=email, ended=False,
                                              email_verified=site_user is not None, language=language)
        self.send(type="session", token=token, name=name, email=email, email_verified=self.session.email_verified,
                  greeting=self.adapter.config.greeting)

    def _vouched(self, identity) -> tuple[str | None, str | None]:
        """(site user id, email) the company's site signed for, or (None, None) after saying why not."""
        secret = self.adapter.visitor_secret
        if not isinstance(identity, dict) or not all(isinstance(identity.get(k), str)
                                                     for k in ("user_id", "email", "signature")):
            self.send(type="error", error="identity needs user_id, email and signature")
            return None, None
        user_id, email, signature = identity["user_id"], identity["email"], identity["signature"]
        expected = visitor_signature(secret, user_id, email) if secret else None
        if expected is None or not signature.isascii() or not hmac.compare_digest(expected, signature.lower()) \
                or not 0 < len(user_id) <= 200:
            self.send(type="error", code="bad-identity", error="the site's identity for this visitor is not valid")
            return None, None
        return user_id, email

    def _resume(self, message: dict) -> None:
        token = message.get("token")
        if not isinstance(token, str) or len(token) > 200:
            self.send(type="error", error="no such chat", code="unknown-session")
            return
        with self.store.transaction() as conn:
            session = store_chat.get(conn, _token_hash(token), self.adapter.name)
            found = store_chat.interactions(conn, session.key) if session is not None else []
        self._follow(found)
        if session is None:
            self.send(type="error", error="no such chat", code="unknown-session")
            return
        self.session = session
        after = message.get("after")
        self.pushed = after if isinstance(after, int) and after >= 0 else 0
        self.send(type="session", name=session.name, email=session.email, email_verified=session.email_verified,
                  greeting=self.adapter.config.greeting)
        self._push_new()

    def _client_id(self, message: dict) -> str | None:
        """The widget's id for its message (the de-duplication key), or None after saying why not."""
        client_id = message.get("id")
        if not isinstance(client_id, str) or not _CLIENT_ID.match(client_id):
            self.send(type="error", error="a message needs an id of 8-64 letters, digits, - or _")
            return None
        return client_id

    def _message(self, message: dict) -> None:
        assert self.session is not None
        client_id, text = self._client_id(message), message.get("text")
        if client_id is None:
            return
        if not isinstance(text, str) or not text.strip():
            self.send(type="nack", id=client_id, error="empty message")
            return
        if len(text) > self.adapter.config.max_message_chars:
            self.send(type="nack", id=client_id,
                      error=f"message over {self.adapter.config.max_message_chars} characters")
            return
        if self.adapter.limited(self.adapter.messages, self.session.key) is not None:
            # Not taken, not lost: the widget sends it again a moment later.
            self.send(type="retry", id=client_id, error="you are sending very fast; sending in a moment")
            return
        self._ingest(client_id, text, [])

    def _ingest(self, client_id: str, text: str, attachments: list[Attachment]) -> None:
        """Commit, then acknowledge: the widget forgets the message only after the ack."""
        assert self.session is not None
        try:
            result = self.adapter.batcher.ingest(self.adapter.contact(self.session, client_id, text, attachments))
        except (ValidationError, InvalidIdentity, ValueError) as exc:
            self.send(type="nack", id=client_id, error=str(exc)[:300])
            return
        except Exception as exc:
            if poison.unreachable(exc):  # not acknowledged, so the widget sends it again
                self.adapter.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("%s: chat message not stored: %s", self.adapter.name, self.adapter.last_error)
                self.send(type="retry", id=client_id, error="could not be saved yet; retrying")
                return
            frame = {"type": "message", "id": client_id, "text": text,
                     "files": [{"filename": a.filename, "content_type": a.content_type,
                                "data": base64.b64encode(a.content).decode()} for a in attachments]}
            self._rejected(json.dumps(frame, ensure_ascii=False).encode(), poison.reason(exc), client_id)
            return
        self.adapter.messages_in += 0 if result.duplicate else 1
        self._follow([result.interaction_id])
        self.send(type="ack", id=client_id, message_id=result.message_id)
        if result.message_id > self.pushed:
            self._own.add(result.message_id)
        if self._waiting is None or self._waiting.dead:
            self._waiting = gevent.spawn(self._tell_while_waiting, result.interaction_id)

    def _tell_while_waiting(self, interaction_id: int) -> None:
        """A customer in line is told now and then that they still are, rather than left to
        wonder whether anyone saw the message."""
        every = self.adapter.config.waiting_notice_s
        routing = self.adapter.context.routing
        while every > 0 and not self.ws.closed:
            gevent.sleep(every)
            try:
                state, _ = routing.state(interaction_id)
            except Exception:  # noqa: BLE001 - a notice is a courtesy; the chat goes on without it
                return
            if state not in ("queued", "offered") or self.ws.closed:
                return
            self.notice("still_waiting", "Thank you for waiting: all our agents are busy, and you are still in line.")

    def _rejected(self, raw: bytes, why: str, client_id: str | None = None) -> None:
        """Kept for the team with the reason; the visitor is told, and the chat goes on. At the
        chat's message pace, so a flood of bad frames is not a flood of records."""
        assert self.session is not None
        if self.adapter.limited(self.adapter.messages, self.session.key) is not None:
            self.send(type="error", error="messages must be JSON objects")
            return
        source = {"chat": self.session.key} | ({"client_id": client_id} if client_id else {})
        rejected_id = self.adapter.context.engine.reject(Channel.chat, self.adapter.name, why, source, raw)
        error = f"this message could not be taken in; it is kept for our team (reference R{rejected_id})"
        if client_id:
            self.send(type="nack", id=client_id, error=error, rejected=rejected_id)
        else:
            self.send(type="error", error=f"messages must be JSON objects; {error}", rejected=rejected_id)

    def _file(self, message: dict) -> None:
        """A file from the customer, base64 in the message; checked, then ingested like a message."""
        client_id = self._client_id(message)
        if client_id is None:
            return
        assert self.session is not None
        wait = self.adapter.limited(self.adapter.uploads, self.session.key)
        if wait is not None:
            self.send(type="nack", id=client_id, error=f"too many files at once; send it again in {int(wait) + 1} s")
            return
        filename = safe_filename(str(message.get("filename") or "file"), "file")
        content_type = str(message.get("content_type") or "").lower()[:100]
        try:
            content = base64.b64decode(str(message.get("data") or ""), validate=True)
        except (binascii.Error, ValueError):
            self.send(type="nack", id=client_id, error="the file did not arrive whole (bad encoding)")
            return
        config = self.adapter.config
        problem = file_problem(content, content_type, config.upload_types, int(config.max_upload_mb * 1024 * 1024))
        if problem is not None:
            self.send(type="nack", id=client_id, error=problem)
            return
        self._ingest(client_id, f"[file: {filename}]",
                     [Attachment(filename=filename, content_type=content_type, content=content)])

    def _offline(self, message: dict) -> None:
        """The offline form (the queue is closed): a message answered later by email, taken in
        as an email would be (by the email adapter when one is set up)."""
        client_id = self._client_id(message)
        if client_id is None:
            return
        if self.adapter.is_open():
            self.send(type="nack", id=client_id, error="we are open: start a chat instead of leaving a message")
            return
        wait = self.adapter.limited(self.adapter.offline_forms, self.address)
        if wait is not None:
            self.send(type="nack", id=client_id, error=f"too many messages from your network; try again in "
                                                        f"{int(wait) // 60 + 1} min")
            return
        name = str(message.get("name") or "").strip()[:200]
        text = message.get("text")
        try:
            email = normalise_email(str(message.get("email") or ""))
        except InvalidIdentity:
            self.send(type="nack", id=client_id, error="please give an email address we can answer to")
            return
        if not name or not isinstance(text, str) or not text.strip():
            self.send(type="nack", id=client_id, error="please give your name and a message")
            return
        if len(text) > self.adapter.config.max_message_chars:
            self.send(type="nack", id=client_id, error=f"message over {self.adapter.config.max_message_chars} characters")
            return
        mailer = self.adapter.email_adapter()
        contact = InboundContact(
            channel=Channel.email if mailer else Channel.chat, endpoint=self.adapter.name,
            external_id=f"chat-offline:{self.adapter.name}:{client_id}", sender=email,
            sender_kind=IdentityKind.email, sender_name=name, subject="Message from the web site (chat was closed)",
            parts=[ContentPart(body=text)], queue=self.adapter.config.queue,
            metadata={"adapter": mailer or self.adapter.name, "via": "chat offline form"},
        )
        try:
            result = self.adapter.context.engine.ingest(contact)
        except Exception as exc:  # not acknowledged: the widget sends it again
            log.warning("%s: offline message not stored: %s", self.adapter.name, exc)
            self.send(type="retry", id=client_id, error="could not be saved yet; retrying")
            return
        self.send(type="ack", id=client_id, message_id=result.message_id, offline=True)

    def _transcript(self) -> None:
        """The chat so far, emailed to the customer (who gave an email address)."""
        assert self.session is not None
        if not self.session.email:
            self.send(type="error", error="no email address was given at the start of the chat")
            return
        if not self.session.email_verified:
            self.send(type="error", code="unverified", error="confirm your email address first")
            return
        replies = self.adapter.context.replies
        if not self.interactions or replies is None or self.adapter.email_adapter() is None:
            self.send(type="error", error="a transcript cannot be emailed now")
            return
        with self.store.transaction() as conn:
            rows = store_chat.messages_after(conn, self.session.key, 0)
        lines = [f"[{at:%Y-%m-%d %H:%M} UTC] {(agent or 'Agent') if direction == 'outbound' else (sender or 'You')}: {text}"
                 for _, direction, text, at, agent, sender, _, _, _ in rows]
        try:
            replies.reply(max(self.interactions), "Your chat with us:\n\n" + "\n".join(lines), channel="email",
                          kind="transcript", quote_previous=False, subject=f"Your chat transcript ({self.adapter.config.title})")
        except ReplyRefused as exc:
            self.send(type="error", error=str(exc))
            return
        self.send(type="notice", text=f"The transcript is on its way to {self.session.email}.")

    def _send_code(self) -> None:
        """Mail a code to the address the customer gave; typing it back proves it is theirs."""
        assert self.session is not None
        session = self.session
        if not session.email or session.email_verified:
            self.send(type="error", error="there is no email address to confirm")
            return
        replies = self.adapter.context.replies
        if replies is None or self.adapter.email_adapter() is None:
            self.send(type="error", error="we cannot send mail now, so the address cannot be confirmed")
            return
        if not self.interactions:
            self.send(type="error", error="write us a message first; then we can mail you a code")
            return
        code = f"{secrets.randbelow(10 ** 6):06d}"
        now = self.adapter.context.engine.clock.now()
        with self.store.transaction() as conn:
            allowed = store_chat.set_code(conn, session.key, _token_hash(f"{session.key}:{code}"),
                                          now + timedelta(seconds=CODE_VALID_S), self.adapter.config.limits.codes_per_chat)
        if not allowed:
            self.adapter.refused += 1
            self.send(type="error", code="rate-limited", error="no more codes for this chat; please ask the agent")
            return
        try:
            replies.reply(max(self.interactions), f"Your code to confirm this address in the chat: {code}\n\n"
                          "If you did not ask for it, ignore this mail.", channel="email", kind="verification",
                          quote_previous=False, subject=f"Your code: {code}", to=session.email)
        except ReplyRefused as exc:
            self.send(type="error", error=str(exc))
            return
        self.send(type="code_sent", email=session.email)

    def _check_code(self, message: dict) -> None:
        assert self.session is not None
        session = self.session
        code = message.get("code")
        if not session.email or not isinstance(code, str) or not code.strip().isdigit() or len(code.strip()) != 6:
            self.send(type="error", error="the code is the 6 digits in the mail")
            return
        now = self.adapter.context.engine.clock.now()
        with self.store.transaction() as conn:
            result = store_chat.try_code(conn, session.key, _token_hash(f"{session.key}:{code.strip()}"), now,
                                         CODE_TRIES)
        if result != "verified":
            self.send(type="error", code=f"code-{result}", error={
                "wrong": "that is not the code; look again", "expired": "the code expired; ask for a new one",
                "locked": "too many wrong codes; please ask the agent"}[result])
            return
        self.session = dataclasses.replace(session, email_verified=True)
        self.adapter.context.engine.identity_proved(IdentityKind.chat, session.key, IdentityKind.email, session.email,
                                                    actor="customer (confirmed by a mailed code)")
        for interaction_id in self.interactions:
            self.adapter.context.routing.note(interaction_id, "email_confirmed", actor="customer",
                                              data={"email": session.email})
        self.send(type="verified", email=session.email)

    def _leave(self) -> None:
        assert self.session is not None
        with self.store.transaction() as conn:
            store_chat.end(conn, self.session.key, self.adapter.context.engine.clock.now())
        for interaction_id in self.interactions:
            self.adapter.context.routing.note(interaction_id, "customer_left", actor="customer")
        self.send(type="ended")

    def _push_new(self) -> None:
        assert self.session is not None
        with self.store.transaction() as conn:
            rows = store_chat.messages_after(conn, self.session.key, self.pushed)
        prefix = f"chat:{self.session.key}:"
        for message_id, direction, text, at, agent_name, sender_name, external_id, kind, files in rows:
            if message_id <= self.pushed:
                continue
            self.pushed = message_id
            if message_id in self._own:
                continue
            # The widget's own id for a customer message, so that a tab showing it already does not show it twice.
            client_id = external_id[len(prefix):] if external_id and external_id.startswith(prefix) else None
            self.send(type="message", message_id=message_id, id=client_id, direction=direction, text=text, at=at,
                      author=(agent_name or "Agent") if direction == "outbound" else sender_name, kind=kind,
                      files=files)
        self._own = {m for m in self._own if m > self.pushed}

    def _on_event(self, event: RoutingEvent) -> None:
        # Runs in the node's event listener: no waiting here, anything that reads is spawned.
        if self.session is None or event.interaction_id not in self.interactions:
            return
        if event.event == "interaction.message_received" and event.data.get("message_id") in self._own:
            return
        if event.event in ("interaction.message_sent", "interaction.message_received"):
            gevent.spawn(self._push_new)
        elif event.event == TYPING_EVENT and event.data.get("who") == "agent":
            self.send(type="typing")
        elif event.event in ("interaction.accepted", "interaction.resumed") and event.agent_id is not None:
            self._told_ended.discard(event.interaction_id)
            if event.event == "interaction.accepted":
                gevent.spawn(self._joined, event.agent_id)
        elif event.event in ("interaction.wrap_up", "interaction.closed") and event.agent_id is not None:
            # Wrap-up then close are one end to the customer: told once.
            if event.interaction_id not in self._told_ended:
                self._told_ended.add(event.interaction_id)
                self.notice("agent_ended", "The agent has ended the chat. Write here to continue, or start a new chat.")
        elif event.event == "interaction.transferred" and event.agent_id is not None:
            self.notice("transferring", "We are passing you to a colleague. Please wait a moment.")
        elif event.event == "interaction.requeued" and event.agent_id is not None:
            self.notice("requeued", "Please wait: the next free agent will be with you.")

    def notice(self, code: str, text: str, **data) -> None:
        """A line for the customer: `code` names it (the widget says it in the customer's
        language, or as the channel file words it); `text` is the English, for other clients."""
        self.send(type="notice", code=code, text=text, **data)

    def _joined(self, agent_id: int) -> None:
        with self.store.transaction() as conn:
            name = store_chat.agent_name(conn, agent_id)
        self.notice("joined", f"{name or 'An agent'} joined the chat.", agent=name)
