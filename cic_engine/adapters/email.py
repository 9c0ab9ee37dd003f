"""The email channel: one mailbox per adapter file. IMAP IDLE (or polling) brings mail in;
each message is committed before it is marked \\Seen or moved, and the folder's UIDVALIDITY
and last UID are checkpointed after, so a crash anywhere between re-reads a message that
ingest then recognises (Message-ID) instead of losing it. Replies leave through the outbox
by SMTP, threaded, with a copy in the Sent folder when configured.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import random
import re
from typing import ClassVar, Literal

import aiosmtplib
import gevent
from gevent.pool import Pool
from pydantic import BaseModel, ConfigDict, Field

from .. import aio, poison
from ..identity import InvalidIdentity, normalise_email
from ..ingest_batch import IngestBatcher
from ..mail import compose
from ..mail.imap import ImapSession
from ..mail.mime import ParsedMail, parse
from ..models import (
    AdapterHealth,
    Attachment,
    Channel,
    ContentPart,
    DeliveryResult,
    IdentityKind,
    InboundContact,
    OutboundMessage,
)
from ..replies import Replies, ReplyRefused
from ..store import checkpoints
from ..store import outbox as store_outbox
from . import AdapterContext
from .secret import Secret

log = logging.getLogger(__name__)
MB = 1024 * 1024
BATCH = 100  # messages per FETCH; committed together, then flagged together
# Senders taken at once: their messages share commits (IngestBatcher); one sender's go in turn.
PARALLEL = BATCH


_TICKET = re.compile(r"\[#(\d{1,15})\]")


def _known(raw: bytes) -> dict[str, str]:
    """What a supervisor needs to find a message that could not be read: its sender, subject
    and Message-ID as they stand in the raw header lines."""
    head = re.split(rb"\r?\n\r?\n", raw[:65536], maxsplit=1)[0].decode("utf-8", "replace")
    found = {}
    for name in ("From", "Subject", "Message-ID", "Date"):
        match = re.search(rf"(?im)^{name}:[ \t]*(.*(?:\r?\n[ \t].*)*)", head)
        if match:
            found[name.lower()] = " ".join(match.group(1).split())[:300]
    return found


def _digest(text: str) -> str:
    """A short id from text, the same in every process (str hashes are salted per process, so a
    re-read after a restart would not find what the first read wrote)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


class ImapSettings(Secret):
    host: str = "127.0.0.1"
    port: int = Field(993, ge=1, le=65535)
    security: Literal["tls", "none"] = Field(
        "tls", description="tls: implicit TLS (993); none: plain (loopback or a trusted network only). "
                           "STARTTLS is not offered by aioimaplib.")
    username: str = Field(min_length=1)
    folders: list[str] = Field(default_factory=lambda: ["INBOX"], min_length=1)
    processed: Literal["seen", "move"] = "seen"
    move_to: str = "Processed"
    sent_folder: str | None = Field(None, description="a copy of every reply is appended here")
    idle_renew_s: float = Field(25 * 60, ge=1, le=29 * 60, description="IDLE is re-issued before the server's "
                                "29-minute limit")
    poll_s: float = Field(60, ge=0.2, le=3600, description="polling interval when the server has no IDLE")
    timeout_s: float = Field(30, gt=0, le=600)


class SmtpSettings(Secret):
    host: str = "127.0.0.1"
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    timeout_s: float = Field(30, gt=0, le=600)


class AutoReply(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: str = "We received your message [#{ticket}]"
    text: str = ("Thank you for writing to us. Your reference is #{ticket}; an agent will answer soon.\n"
                 "Please keep this reference in the subject when you write about the same matter.")


class EmailConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: str = Field(min_length=3, description="the mailbox's address: From of replies, and ours to recognise")
    display_name: str = ""
    imap: ImapSettings
    smtp: SmtpSettings | None = Field(None, description="without it, replies cannot be sent from this mailbox")
    queue: str | None = Field(None, description="queue for its mail; default: engine.default_queue")
    signature: str | None = None
    max_message_mb: float = Field(20, gt=0, le=200, description="larger messages are recorded as rejected, not read")
    auto_reply: AutoReply | None = Field(None, description="off unless set")
    closed_thread: Literal["reopen", "follow-up"] = Field(
        "reopen", description="a reply to a closed interaction reopens it, or opens a new one linked to it")
    machine_mail: Literal["timeline", "queue"] = Field(
        "timeline", description="out-of-office replies, auto-replies and other machine mail (RFC 3834 headers, "
        "no-reply senders, lists): on their thread's timeline without an agent, or queued like a person's mail. "
        "Mail from our own addresses is never queued.")


def contact_fields(mail: ParsedMail, size: int, where: dict[str, str], adapter: str, address: str,
                   queue: str | None, needs_agent: bool, follow_up: int | None) -> dict:
    """The contact a parsed mail makes, but for its sender (InboundContact's other fields)."""
    metadata = {
        "adapter": adapter, "preview": mail.preview[:2000], **where,
        "to": ", ".join(mail.to)[:1000], "cc": ", ".join(mail.cc)[:1000], "size": str(size),
    }
    if mail.date:
        metadata["date"] = mail.date.isoformat()
    if mail.problems:
        metadata["problems"] = "; ".join(mail.problems)[:4000]
    if mail.automatic:
        metadata["automatic"] = mail.automatic
    if follow_up:
        metadata["follows_up"] = str(follow_up)
    if mail.forwarded:
        metadata["forwarded"] = json.dumps([dataclasses.asdict(f) for f in mail.forwarded][:10],
                                           ensure_ascii=False)[:60000]
    parts = [ContentPart(content_type="text/plain", body=mail.text[:1_900_000])]
    if mail.html:
        parts.append(ContentPart(content_type="text/html", body=mail.html[:1_900_000]))
    return dict(
        channel=Channel.email, endpoint=address, external_id=mail.message_id[:998],
        sender_name=mail.from_name[:500] or None, recipient=address, subject=mail.subject[:2000] or None,
        thread_refs=[r[:998] for r in mail.thread_refs][-200:], parts=parts,
        attachments=[Attachment(filename=a.filename, content_type=a.content_type[:200], content=a.content,
                                content_id=(a.content_id or None) and a.content_id[:998], inline=a.inline)
                     for a in mail.attachments][:64],
        queue=queue, metadata=metadata, needs_agent=needs_agent,
    )


class EmailAdapter:
    kind: ClassVar[str] = "email"
    Config: ClassVar[type[BaseModel]] = EmailConfig

    def __init__(self, name: str, config: BaseModel, context: AdapterContext):
        assert isinstance(config, EmailConfig)
        self.name = name
        self.config = config
        self.context = context
        self.address = config.address.strip().lower()
        self.own = frozenset({self.address})
        self.replies = Replies(context.engine.store, context.engine.clock)
        self.batcher = IngestBatcher(context.engine, max_batch=BATCH)
        self._greenlets: list[gevent.Greenlet] = []
        self._pool = Pool(PARALLEL)
        self.last_error: str | None = None
        self.connected: dict[str, bool] = {f: False for f in config.imap.folders}
        self.ingested = 0
        self.rejected = 0

    # Life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self.config.imap.read(f"{self.name}.imap")  # a missing secret stops the start, with its name
        if self.config.smtp:
            self.config.smtp.read(f"{self.name}.smtp")
        queue = self.config.queue
        if queue and queue not in {q.name for q in self.context.engine.cic.queues}:
            raise ValueError(f"email adapter {self.name}: no queue named {queue!r} in cic.toml")
        self._greenlets = [gevent.spawn(self._watch, folder) for folder in self.config.imap.folders]

    def stop(self, timeout: float) -> None:
        gevent.killall(self._greenlets, timeout=timeout)

    def health(self) -> AdapterHealth:
        ok = all(self.connected.values())
        return AdapterHealth(ok=ok, state="running" if ok else "degraded", last_error=self.last_error,
                             detail={"folders": self.connected, "ingested": self.ingested, "rejected": self.rejected})

    # Mail in ------------------------------------------------------------------------------

    def _watch(self, folder: str) -> None:
        backoff = 0.5
        while True:
            session = None
            try:
                session = self._open()
                self._follow(session, folder)
            except Exception as exc:  # noqa: BLE001 - whatever broke the session, a new one is the cure
                self.connected[folder] = False
                self.last_error = f"{folder}: {type(exc).__name__}: {exc}"
                log.warning("%s: %s; reconnecting in about %.1fs", self.name, self.last_error, backoff)
            finally:
                if session is not None:
                    gevent.spawn(self._close, session)
            gevent.sleep(backoff * random.uniform(0.5, 1.5))
            backoff = min(backoff * 2, 30.0)

    def _open(self) -> ImapSession:
        imap = self.config.imap
        return aio.run(ImapSession.open(imap.host, imap.port, imap.security == "tls", imap.username,
                                        imap.read(f"{self.name}.imap"), imap.timeout_s), timeout=imap.timeout_s + 5)

    def _close(self, session: ImapSession) -> None:
        try:
            aio.run(session.close(), timeout=10)
        except Exception:  # noqa: BLE001 - dropping it anyway
            pass

    def _follow(self, session: ImapSession, folder: str) -> None:
        imap = self.config.imap
        timeout = imap.timeout_s + 5
        validity, _ = aio.run(session.select(folder), timeout=timeout)
        if imap.processed == "move":
            aio.run(session.create(imap.move_to), timeout=timeout)
        key = f"imap:{folder}"
        with self.context.engine.store.connection() as conn:
            mark = checkpoints.get(conn, self.name, key) or {}
        last_uid = int(mark.get("last_uid", 0))
        if mark.get("uidvalidity") not in (None, validity):
            # The server renumbered the folder: read it all again; Message-IDs keep out what we have.
            log.warning("%s: UIDVALIDITY of %s changed (%s -> %s); re-reading the folder",
                        self.name, folder, mark.get("uidvalidity"), validity)
            last_uid = 0
        if mark.get("uidvalidity") != validity:
            with self.context.engine.store.connection() as conn:
                checkpoints.put(conn, self.name, key, {"uidvalidity": validity, "last_uid": last_uid})
        self.connected[folder] = True
        self.last_error = None
        while True:
            uids = aio.run(session.uids_from(last_uid + 1), timeout=timeout)
            chunks = [uids[start:start + BATCH] for start in range(0, len(uids), BATCH)]
            read = self._read(session, folder, chunks[0]) if chunks else None
            for n, chunk in enumerate(chunks):
                assert read is not None
                # While one batch is stored the next is fetched and parsed, so that the
                # database's time and ours overlap; a batch is flagged only once stored, and
                # its checkpoint follows the flag.
                storing = gevent.spawn(self._store, read[0])
                try:
                    upcoming = self._read(session, folder, chunks[n + 1]) if n + 1 < len(chunks) else None
                    storing.join()
                except BaseException:
                    storing.kill()
                    raise
                storing.get()  # the database or the network went away: the batch is read again
                self._flag(session, read[1])
                last_uid = chunk[-1]
                with self.context.engine.store.connection() as conn:
                    checkpoints.put(conn, self.name, key, {"uidvalidity": validity, "last_uid": last_uid})
                read = upcoming
            if uids:
                continue
            if session.idle:
                aio.run(session.wait_for_mail(imap.idle_renew_s), timeout=imap.idle_renew_s + 60)
            else:
                gevent.sleep(imap.poll_s)

    def _read(self, session: ImapSession, folder: str, uids: list[int]) -> tuple[list[list], list[int]]:
        """A batch fetched and parsed: the work for each sender's messages, in order (a reply
        must find the message it answers committed), and the uids to flag once it is done."""
        imap = self.config.imap
        timeout = imap.timeout_s + 5
        limit = int(self.config.max_message_mb * MB)
        sizes = aio.run(session.sizes(uids), timeout=timeout)
        present = [u for u in uids if u in sizes]  # others were deleted meanwhile
        large = [u for u in present if (sizes[u].size or 0) > limit]
        bodies = aio.run(session.fetch([u for u in present if u not in large]), timeout=timeout + 120)
        heads = aio.run(session.fetch(large, headers_only=True), timeout=timeout) if large else {}
        by_sender: dict[str, list] = {}
        for uid in present:
            where = {"folder": folder, "uid": str(uid)}
            if uid in heads:
                work = (self._too_large, heads[uid], sizes[uid].size or 0, limit, where)
            elif uid in bodies:
                try:
                    work = (self._ingest, parse(bodies[uid], self.own), bodies[uid], where)
                except Exception as exc:  # noqa: BLE001 - this message, not the mailbox
                    log.exception("%s: message %s could not be parsed", self.name, where)
                    work = (self._poison, bodies[uid], where, exc)
            else:
                continue
            sender = work[1].from_address if work[0] == self._ingest else ""
            by_sender.setdefault(sender, []).append(work)
        return list(by_sender.values()), [u for u in present if u in heads or u in bodies]

    def _store(self, works_by_sender: list[list]) -> None:
        """Each message committed (different senders' together) or recorded as rejected."""
        jobs = [self._pool.spawn(self._in_order, works) for works in works_by_sender]
        try:
            gevent.joinall(jobs, raise_error=True)
        finally:  # one failed (the database is away) or the watch stops: the batch is read again
            gevent.killall([job for job in jobs if not job.dead])

    def _flag(self, session: ImapSession, done: list[int]) -> None:
        if not done:
            return
        imap = self.config.imap
        if imap.processed == "move":
            aio.run(session.move(done, imap.move_to), timeout=imap.timeout_s + 5)
        else:
            aio.run(session.mark_seen(done), timeout=imap.timeout_s + 5)

    def _in_order(self, works: list) -> None:
        for fn, *args in works:
            try:
                fn(*args)
            except Exception as exc:
                if poison.unreachable(exc) or fn == self._poison:
                    raise  # the database or the network is away: the batch is read again later
                # This message's data, not the mailbox: recorded as rejected, and the next one.
                raw, where = (args[1], args[2]) if fn == self._ingest else (args[0], args[3])
                log.exception("%s: message %s could not be taken in", self.name, where)
                self._poison(raw, where, exc)

    def _poison(self, raw: bytes, where: dict[str, str], error: Exception) -> None:
        """A message that cannot be parsed or stored: on record as rejected with its bytes and
        the reason (a re-read counts on the same record), so the mailbox goes on."""
        source = {**where, **_known(raw)}
        self.context.engine.reject(Channel.email, self.name, poison.reason(error), source, raw)
        self.rejected += 1

    def reingest(self, raw: bytes | None, source: dict[str, str]) -> int | None:
        if raw is None:
            raise ValueError("the message's bytes were not kept")
        return self._ingest(parse(raw, self.own), raw, {k: source[k] for k in ("folder", "uid") if k in source})

    def _ingest(self, mail: ParsedMail, raw: bytes, where: dict[str, str]) -> int | None:
        if mail.bounce is not None:
            self._bounced(mail)
            return None
        # Machine mail reaches the thread's timeline but no agent; our own mail coming back
        # (a loop) never does.
        needs_agent = not (mail.automatic and self.config.machine_mail == "timeline") and \
            mail.from_address not in self.own
        follow_up = self._ticket(mail)
        if mail.thread_refs:
            follow_up = self._closed_thread(mail, reopen=needs_agent) or follow_up
        contact = contact_fields(mail, len(raw), where, self.name, self.address, self.config.queue, needs_agent,
                                 follow_up)
        usable = True
        try:
            result = self.batcher.ingest(InboundContact(sender=mail.from_address or "unknown", **contact))
        except InvalidIdentity as exc:
            # No usable From: still the company's mail, taken under an id of its own and flagged.
            log.info("%s: message %s has no usable sender (%s)", self.name, mail.message_id, exc)
            metadata = contact["metadata"]
            metadata["problems"] = (metadata.get("problems", "") + f"; sender unusable: {exc}").strip("; ")
            usable = False
            result = self.batcher.ingest(InboundContact(
                sender=f"unknown-sender-{_digest(mail.message_id)}", sender_kind=IdentityKind.chat,
                **contact))
        self.ingested += 0 if result.duplicate else 1
        if follow_up and not result.duplicate:
            self.context.routing.note(result.interaction_id, "follow_up", data={"follows": follow_up})
        if self.config.auto_reply and result.new_interaction and not result.duplicate and not mail.automatic \
                and usable:
            self._auto_reply(result.interaction_id)
        return result.interaction_id

    def _ticket(self, mail: ParsedMail) -> int | None:
        """A "[#N]" our auto-reply asked the customer to keep in the subject: from the same
        customer (any of their addresses), the mail continues interaction N as a reply would
        (its last mail becomes a thread reference); from anyone else, it opens a new interaction
        linked to N, whose id is returned."""
        found = _TICKET.search(mail.subject)
        if found is None or not mail.from_address:
            return None
        with self.context.engine.store.connection() as conn:
            row = conn.execute(
                """SELECT i.id, i.channel = 'email' AND EXISTS (
                              SELECT FROM customer_identities ci WHERE ci.customer_id = i.customer_id
                              AND ci.kind = 'email' AND ci.value = %s),
                          (SELECT m.external_id FROM messages m WHERE m.interaction_id = i.id AND m.channel = 'email'
                           ORDER BY m.id DESC LIMIT 1)
                   FROM interactions i WHERE i.id = %s""", (mail.from_address, int(found.group(1)))).fetchone()
        if row is None:
            return None
        interaction_id, same_customer, last = row
        if same_customer and last:
            mail.references.append(last)
            return None
        return interaction_id

    def _closed_thread(self, mail: ParsedMail, reopen: bool) -> int | None:
        """A reply to a closed interaction of the same customer: reopened (it is then continued
        by ingest), or, in follow-up mode or for machine mail (an out-of-office), the id of the
        one a new interaction follows."""
        with self.context.engine.store.connection() as conn:
            row = conn.execute(
                """SELECT i.id, i.state FROM messages m JOIN interactions i ON i.id = m.interaction_id
                   JOIN customer_identities ci ON ci.customer_id = i.customer_id
                   WHERE m.channel = 'email' AND m.external_id = ANY(%s) AND ci.kind = 'email' AND ci.value = %s
                   ORDER BY i.id DESC LIMIT 1""", (mail.thread_refs, mail.from_address)).fetchone()
        if row is None or row[1] != "closed":
            return None
        if self.config.closed_thread == "reopen" and reopen:
            self.context.engine.reopen(row[0], why=f"customer replied ({mail.message_id})")
            return None
        return row[0]

    def _auto_reply(self, interaction_id: int) -> None:
        settings = self.config.auto_reply
        assert settings is not None
        try:
            self.replies.reply(interaction_id, settings.text.format(ticket=interaction_id), kind="auto-reply",
                               quote_previous=False, subject=settings.subject.format(ticket=interaction_id))
        except ReplyRefused as exc:
            log.info("%s: no auto-reply for %s: %s", self.name, interaction_id, exc)

    def _too_large(self, raw_headers: bytes, size: int, limit: int, where: dict[str, str]) -> None:
        """Too large to read: on record, with who sent it and why it was not read, so an agent
        can answer; the mailbox moves on."""
        mail = parse(raw_headers, self.own)
        reason = f"message of {size / MB:.1f} MB is over this mailbox's {limit / MB:.1f} MB limit; not downloaded"
        log.warning("%s: %s (%s)", self.name, reason, mail.message_id)
        mail.text = f"[{reason}. It stays on the mail server in {where['folder']}.]"
        mail.html = None
        mail.attachments = []
        mail.problems.append(f"rejected: {reason}")
        mail.preview = mail.text
        self._ingest(mail, raw_headers, {**where, "rejected": reason})

    def _bounced(self, mail: ParsedMail) -> None:
        """A delivery status notification: recorded on the message we sent, not customer mail."""
        bounce = mail.bounce
        assert bounce is not None
        now = self.context.engine.clock.now()
        with self.context.engine.store.transaction() as conn:
            outbox_id = (store_outbox.by_external_id(conn, "email", bounce.original_message_id)
                         if bounce.original_message_id else None)
            if outbox_id is None:
                log.warning("%s: bounce %s for a message we do not know (%s)", self.name, mail.message_id,
                            bounce.original_message_id)
                return
            if (bounce.action or "failed").lower() == "failed":
                error = f"bounced: {bounce.status or ''} {bounce.diagnostic or ''} ({bounce.recipient or ''})".strip()
                store_outbox.failed(conn, outbox_id, error, now, kind="bounced")

    # Mail out -----------------------------------------------------------------------------

    def deliver(self, outbound: OutboundMessage) -> DeliveryResult:
        smtp = self.config.smtp
        if smtp is None:
            return DeliveryResult(ok=False, error=f"{self.name} has no [smtp] settings")
        try:
            normalise_email(outbound.recipient)
        except InvalidIdentity as exc:  # no server will ever take it: failed at once, with the reason
            return DeliveryResult(ok=False, retry=False, error=f"cannot be delivered: {exc}")
        message = compose.build(
            from_address=self.address, from_name=self.config.display_name, to=outbound.recipient,
            subject=outbound.subject or "", text=outbound.parts[0].body if outbound.parts else "",
            message_id=outbound.message_id or compose.new_message_id(self.address.rpartition("@")[2]),
            thread_refs=outbound.thread_refs, quote=outbound.quote,
            signature=self.config.signature if outbound.kind != "auto-reply" else None,
            attachments=[(a.filename, a.content_type, a.content) for a in outbound.attachments],
            headers={"Auto-Submitted": "auto-replied"} if outbound.kind == "auto-reply" else None,
        )
        try:
            aio.run(aiosmtplib.send(
                message, hostname=smtp.host, port=smtp.port, username=smtp.username or None,
                password=smtp.read(f"{self.name}.smtp") or None if smtp.username else None,
                use_tls=smtp.security == "tls", start_tls=True if smtp.security == "starttls" else False,
                timeout=smtp.timeout_s), timeout=smtp.timeout_s * 3)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [e.code for e in exc.recipients]
            return DeliveryResult(ok=False, error="; ".join(f"{e.code} {e.message}" for e in exc.recipients),
                                  retry=all(400 <= c < 500 for c in codes))
        except aiosmtplib.SMTPResponseException as exc:
            return DeliveryResult(ok=False, error=f"{exc.code} {exc.message}", retry=400 <= exc.code < 500)
        except aiosmtplib.SMTPNotSupported as exc:  # e.g. an address that needs SMTPUTF8, which the server lacks
            return DeliveryResult(ok=False, error=f"the mail server cannot take it: {exc}", retry=False)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            return DeliveryResult(ok=False, error=f"{type(exc).__name__}: {exc}", retry=True)
        if self.config.imap.sent_folder:
            self._copy_to_sent(message.as_bytes())
        return DeliveryResult(ok=True, external_id=message["Message-ID"])

    def _copy_to_sent(self, raw: bytes) -> None:
        folder = self.config.imap.sent_folder
        assert folder is not None
        try:
            session = self._open()
            try:
                aio.run(session.create(folder), timeout=30)
                aio.run(session.append(raw, folder), timeout=60)
            finally:
                self._close(session)
        except Exception as exc:  # noqa: BLE001 - the mail went out; the copy is a convenience
            log.warning("%s: could not copy the reply to %s: %s", self.name, folder, exc)
