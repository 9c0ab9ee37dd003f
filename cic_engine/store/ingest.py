"""The statements of one ingest, shaped for round trips: every contact pays for them.

Locking. An ingest takes an advisory lock on its sender's identity
(customers.identity_lock_key) and only then reads, in a later statement: under READ
COMMITTED that statement sees everything committed by whoever held the lock before (a
snapshot is per statement, so the lock and the reads cannot share one). That one lock
serialises ingests from one sender and a merge of its profile, and it also de-duplicates: a
redelivered contact has the same sender, so it waits for the first delivery to commit and then
finds its message. Two different contacts claiming one provider id still cannot both land:
(channel, external_id) is unique, and the engine retries the loser, which then resolves as a
duplicate.

Round trips. On this path a round trip costs about as much as the work, so the reads and the
final write are server-side prepared statements (planned once per connection) sent inside
simple-query batches: `BEGIN; lock; EXECUTE resolve(...)` is one round trip and
`EXECUTE append(...); COMMIT` another. Contacts taken together (Engine.ingest_many) share both:
every sender's lock and read in the first, every write in the second, one COMMIT. Each statement of a batch still gets its own snapshot.
Values travel as literals quoted by psycopg (ClientCursor.mogrify), never pasted as text.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from psycopg import ClientCursor, sql
from psycopg.errors import InvalidSqlStatementName
from psycopg.pq import TransactionStatus
from psycopg.types.json import Jsonb

from ..models import InboundContact
from . import Conn, advisory_key
from .interactions import QUEUE_NOTIFY_CHANNEL, add_attachments

RESOLVE = "cic_ingest_resolve"
CREATE_CUSTOMER = "cic_ingest_create_customer"
OPEN_INTERACTION = "cic_ingest_open_interaction"
APPEND = "cic_ingest_append"

_PREPARED = {
    # $1 channel, $2 external_id, $3 identity kind, $4 address, $5 thread refs, $6 conversation key,
    # $7 endpoint, $8 continuation window (s), $9 now
    RESOLVE: (
        "text, text, text, text, text[], text, text, float8, timestamptz",
        """WITH seen AS (
               SELECT m.id, m.interaction_id, i.customer_id FROM messages m
               JOIN interactions i ON i.id = m.interaction_id
               WHERE m.channel = $1 AND m.external_id = $2),
           sender AS (
               SELECT customer_id FROM customer_identities WHERE kind = $3 AND value = $4),
           referenced AS (
               SELECT interaction_id FROM messages WHERE channel = $1 AND external_id = ANY($5)),
           continues AS (
               SELECT i.id FROM interactions i JOIN sender s ON s.customer_id = i.customer_id
               WHERE i.channel = $1 AND i.state <> 'closed'
                 AND (i.id IN (SELECT interaction_id FROM referenced)
                      OR i.conversation_key = $6
                      OR (i.endpoint = $7 AND i.last_message_at >= $9 - make_interval(secs => $8)))
               ORDER BY (i.id IN (SELECT interaction_id FROM referenced)) DESC,
                        (i.conversation_key IS NOT DISTINCT FROM $6) DESC,
                        i.last_message_at DESC
               LIMIT 1)
           -- Ids for what this contact will create are drawn now, so that every write after
           -- this read can travel in one batch with the COMMIT. A duplicate draws none.
           SELECT (SELECT id FROM seen), (SELECT interaction_id FROM seen), (SELECT customer_id FROM seen),
                  (SELECT customer_id FROM sender), (SELECT id FROM continues),
                  CASE WHEN NOT EXISTS (SELECT FROM seen) AND NOT EXISTS (SELECT FROM sender)
                       THEN nextval('customers_id_seq') END,
                  CASE WHEN NOT EXISTS (SELECT FROM seen) AND NOT EXISTS (SELECT FROM continues)
                       THEN nextval('interactions_id_seq') END""",
    ),
    # $1 customer id, $2 identity kind, $3 address, $4 display name, $5 now
    CREATE_CUSTOMER: (
        "bigint, text, text, text, timestamptz",
        """WITH c AS (
               INSERT INTO customers (id, display_name, created_at, updated_at) VALUES ($1, $4, $5, $5)),
           i AS (
               INSERT INTO customer_identities (customer_id, kind, value, created_at) VALUES ($1, $2, $3, $5))
           INSERT INTO timeline_events (at, kind, customer_id, data)
           VALUES ($5, 'customer_created', $1, jsonb_build_object('identity', $2 || ':' || $3))""",
    ),
    # $1 interaction id, $2 channel, $3 endpoint, $4 conversation key, $5 queue id, $6 priority,
    # $7 customer, $8 subject, $9 now, $10 queued (needs an agent) or closed at once (self-service),
    # $11 skills required, $12 language
    OPEN_INTERACTION: (
        "bigint, text, text, text, bigint, integer, bigint, text, timestamptz, boolean, jsonb, text",
        """WITH i AS (
               INSERT INTO interactions (id, channel, direction, state, endpoint, conversation_key, queue_id, priority,
                                         customer_id, subject, created_at, queued_at, queue_entered_at,
                                         last_message_at, closed_at, skills, language)
               VALUES ($1, $2, 'inbound', CASE WHEN $10 THEN 'queued' ELSE 'closed' END, $3, $4, $5, $6, $7, $8,
                       $9, CASE WHEN $10 THEN $9 END, CASE WHEN $10 THEN $9 END, $9,
                       CASE WHEN $10 THEN NULL ELSE $9 END, $11, $12)),
           t AS (
               INSERT INTO timeline_events (at, kind, customer_id, interaction_id, data)
               SELECT $9, e.kind, $7, $1, e.data FROM
                   (VALUES (1, 'interaction_opened', jsonb_build_object('channel', $2, 'endpoint', $3)),
                           (2, CASE WHEN $10 THEN 'queued' ELSE 'closed' END,
                            jsonb_build_object('queue_id', $5, 'priority', $6))) AS e(n, kind, data)
               ORDER BY e.n)
           -- NOTIFY is delivered at commit, so a router never wakes for a row it cannot see yet.
           SELECT CASE WHEN $10 THEN pg_notify('""" + QUEUE_NOTIFY_CHANNEL + """', $1::text) END""",  # noqa: S608 - a constant
    ),
    # $1 interaction, $2 opened in this transaction, $3 customer, $4 channel, $5 external_id,
    # $6 sender, $7 sender name, $8 recipient, $9 subject, $10 metadata, $11 received_at, $12 now,
    # $13 part content types, $14 part bodies
    APPEND: (
        "bigint, boolean, bigint, text, text, text, text, text, text, jsonb, timestamptz, timestamptz, text[], text[]",
        # The interaction is re-checked and row-locked here rather than when it was looked up:
        # a lock there would cost a heap write per contact. When an agent closed it in between,
        # nothing is written (no row comes back) and the caller starts over.
        """WITH u AS (
               UPDATE interactions SET last_message_at = $12
               WHERE id = $1 AND (state <> 'closed' OR $2)
               RETURNING id),
           m AS (
               INSERT INTO messages (interaction_id, channel, direction, external_id, sender, sender_name, recipient,
                                     subject, metadata, received_at, created_at)
               SELECT u.id, $4, 'inbound', $5, $6, $7, $8, $9, $10, $11, $12 FROM u
               RETURNING id),
           p AS (
               INSERT INTO message_parts (message_id, seq, content_type, body)
               SELECT m.id, part.seq, part.content_type, part.body
               FROM m, unnest($13, $14) WITH ORDINALITY AS part(content_type, body, seq)),
           t AS (
               INSERT INTO timeline_events (at, kind, customer_id, interaction_id, data)
               SELECT $12, 'message_received', $3, $1,
                      jsonb_build_object('message_id', m.id, 'channel', $4, 'external_id', $5)
               FROM m)
           SELECT id FROM m""",
    ),
}

# Connections (by identity) that hold our prepared statements; a reconnect is a new object.
_prepared_on: weakref.WeakSet[Conn] = weakref.WeakSet()


class InteractionClosedMeanwhile(RuntimeError):
    """The interaction a contact was going to continue was closed by another transaction."""


@dataclass(frozen=True)
class Resolution:
    seen: tuple[int, int, int] | None  # (message, interaction, customer) of an earlier ingest
    customer_id: int | None  # the sender's customer, when the identity is known
    continues: int | None  # the open interaction this contact continues (re-checked by append)
    new_customer_id: int | None  # drawn for a sender nobody knows yet
    new_interaction_id: int | None  # drawn when the contact continues nothing


def _ensure_prepared(conn: Conn) -> None:
    if conn in _prepared_on:
        return
    for name, (types, body) in _PREPARED.items():
        conn.execute(sql.SQL("PREPARE {} ({}) AS {}").format(sql.Identifier(name), sql.SQL(types), sql.SQL(body)))
    _prepared_on.add(conn)


def _execute(cur: ClientCursor, name: str, args: list) -> str:
    # mogrify quotes each value as a literal with the connection's adapters and encoding.
    return cur.mogrify(f"EXECUTE {name}({', '.join(['%s'] * len(args))})", args)


def _run_batch(conn: Conn, statements: list[str]):
    # prepare=False: each batch is unique text; psycopg's prepared-query cache would only churn.
    return conn.execute("; ".join(statements).encode(), prepare=False)


def _result_sets(cur) -> list[list[tuple] | None]:
    """Every statement's rows of a simple-query batch, in order (None for a statement without rows)."""
    out = []
    while True:
        out.append(cur.fetchall() if cur.description is not None else None)
        if not cur.nextset():
            return out


Sender = tuple[str, InboundContact, str, str]  # (lock, contact, identity kind, address)


def resolve(conn: Conn, senders: list[Sender], now: datetime, begin: bool = True,
            known: tuple[str, list[str]] | None = None) -> tuple[list[Resolution], dict[str, tuple[int, int, int]]]:
    """Take each contact's sender lock and read, all in one round trip (opening the transaction
    with `begin`): whether the contact was ingested before, who sent it, and which open
    interaction it continues. Continuation, strongest first: a reply to one of our messages
    (email References), the same conversation key (a chat session), then the customer's latest
    open interaction on the same endpoint within the contact's window (an SMS conversation).
    The senders must differ: a contact's read must see what the previous one from its sender
    wrote, so that one goes in a later call. `known` is (channel, external ids): which of those
    were taken before, found in the same round trip: id -> (message, interaction, customer)."""
    _ensure_prepared(conn)
    mog = ClientCursor(conn)
    batch = ["BEGIN"] * begin
    if known:
        batch.append(mog.mogrify(
            """SELECT m.external_id, m.id, m.interaction_id, i.customer_id FROM messages m
               JOIN interactions i ON i.id = m.interaction_id WHERE m.channel = %s AND m.external_id = ANY(%s)""",
            known))
    for lock, contact, kind, address in senders:
        batch += [f"SELECT pg_advisory_xact_lock({advisory_key(lock):d})", _execute(mog, RESOLVE, [
            contact.channel.value, contact.external_id, kind, address, list(contact.thread_refs),
            contact.conversation_key, contact.endpoint, contact.continue_within_s, now])]
    try:
        sets = _result_sets(_run_batch(conn, batch))
    except InvalidSqlStatementName:
        if not begin:
            raise  # within a transaction: the caller rolls it back and tries again
        # psycopg answers a ROLLBACK on a connection where it prepared statements of its own
        # with DEALLOCATE ALL, which takes ours too: prepare them again and read again.
        conn.execute("ROLLBACK")
        _prepared_on.discard(conn)
        _ensure_prepared(conn)
        sets = _result_sets(_run_batch(conn, batch))
    first = begin + bool(known)
    found = {row[0]: (row[1], row[2], row[3]) for row in (sets[first - 1] or [])} if known else {}
    resolved = []
    for n in range(len(senders)):
        row = sets[first + 2 * n + 1][0]
        resolved.append(Resolution(seen=(row[0], row[1], row[2]) if row[0] is not None else None,
                                   customer_id=row[3], continues=row[4], new_customer_id=row[5],
                                   new_interaction_id=row[6]))
    return resolved, found


@contextmanager
def transaction(conn: Conn) -> Iterator[None]:
    """The bounds of one ingest's transaction. BEGIN travels with the first read and, when it
    can, COMMIT with write; whatever is still open at the end is committed here, and an
    error rolls it back."""
    try:
        yield
    except BaseException:
        if not conn.closed and conn.info.transaction_status != TransactionStatus.IDLE:
            conn.execute("ROLLBACK")
        raise
    if conn.info.transaction_status != TransactionStatus.IDLE:
        conn.execute("COMMIT")


def write(conn: Conn, items: list[tuple[Resolution, InboundContact, str, str, tuple[int, int] | None]],
          now: datetime, commit: bool = True) -> list[tuple[int, int, int]]:
    """Create what each contact needs (customer, interaction) and append its message, its parts,
    its attachments and its timeline events, all in one round trip; with `commit` and no
    attachments, COMMIT in it too (otherwise transaction() commits). An item is (resolution,
    contact, identity kind, address, (queue id, priority) for a contact that needs an agent or
    None for self-service). Returns (message, interaction, customer) ids, in order."""
    mog = ClientCursor(conn)
    statements: list[str] = []
    ends = []
    for found, contact, kind, address, queue in items:
        statements += _write_statements(mog, found, contact, kind, address, queue, now)
        ends.append(len(statements) - 1)  # the APPEND's result
    attachments = any(contact.attachments for _, contact, *_ in items)
    if commit and not attachments:  # attachments need the message id first
        statements.append("COMMIT")
    sets = _result_sets(_run_batch(conn, statements))
    written = []
    for (found, contact, *_), end in zip(items, ends, strict=True):
        row = sets[end][0] if sets[end] else None
        interaction_id = found.continues or found.new_interaction_id
        if row is None:
            # APPEND found the interaction closed by someone else; nothing of this contact was
            # written (an interaction it continues means its customer existed already).
            raise InteractionClosedMeanwhile(
                f"interaction {interaction_id} was closed while {contact.external_id!r} arrived")
        if contact.attachments:
            add_attachments(conn, row[0], contact.attachments)
        written.append((row[0], interaction_id, found.customer_id or found.new_customer_id))
    return written


def _write_statements(mog: ClientCursor, found: Resolution, contact: InboundContact, kind: str, address: str,
                      queue: tuple[int, int] | None, now: datetime) -> list[str]:
    customer_id = found.customer_id or found.new_customer_id
    interaction_id = found.continues or found.new_interaction_id
    assert customer_id is not None and interaction_id is not None
    statements: list[str] = []
    if found.customer_id is None:
        statements.append(_execute(mog, CREATE_CUSTOMER, [customer_id, kind, address, contact.sender_name, now]))
    if found.continues is None:
        statements.append(_execute(mog, OPEN_INTERACTION, [
            interaction_id, contact.channel.value, contact.endpoint, contact.conversation_key,
            queue[0] if queue else None, queue[1] if queue else contact.priority, customer_id, contact.subject,
            now, queue is not None, Jsonb(contact.skills), contact.language,
        ]))
    statements.append(_execute(mog, APPEND, [
        interaction_id, found.continues is None, customer_id, contact.channel.value, contact.external_id,
        contact.sender, contact.sender_name, contact.recipient, contact.subject, Jsonb(contact.metadata),
        contact.received_at, now, [p.content_type for p in contact.parts], [p.body for p in contact.parts],
    ]))
    return statements
