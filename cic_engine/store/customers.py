"""Customers and their identities (kind + normalised value, unique across all customers)."""

from __future__ import annotations

from datetime import datetime

from ..models import Channel, Customer, Identity, IdentityKind, Tier
from . import Conn, advisory_key, timeline

TIER_ORDER = [t.value for t in Tier]


class CustomerNotFound(LookupError):
    pass


class MergeRefused(ValueError):
    pass


def identity_lock_key(kind: str, value: str) -> str:
    """Text of the advisory lock held by whoever may create or move this identity (ingest, merge)."""
    return f"identity:{kind}:{value}"


def lock_identity(conn: Conn, kind: str, value: str) -> None:
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (advisory_key(identity_lock_key(kind, value)),))


def find_id_by_identity(conn: Conn, kind: str, value: str) -> int | None:
    row = conn.execute(
        "SELECT customer_id FROM customer_identities WHERE kind = %s AND value = %s", (kind, value)
    ).fetchone()
    return row[0] if row else None


def find_or_create(conn: Conn, kind: str, value: str, display_name: str | None, now: datetime) -> tuple[int, bool]:
    """The customer of an identity, created with it when nobody has it: (id, created). Takes
    the identity's lock, so ingest and other creators wait for each other."""
    lock_identity(conn, kind, value)
    customer_id = find_id_by_identity(conn, kind, value)
    if customer_id is not None:
        return customer_id, False
    customer_id = conn.execute(
        """WITH c AS (INSERT INTO customers (display_name, created_at, updated_at) VALUES (%(name)s, %(now)s, %(now)s)
                      RETURNING id),
                i AS (INSERT INTO customer_identities (customer_id, kind, value, created_at)
                      SELECT id, %(kind)s, %(value)s, %(now)s FROM c),
                t AS (INSERT INTO timeline_events (at, kind, customer_id, data)
                      SELECT %(now)s, 'customer_created', id, jsonb_build_object('identity', %(kind)s || ':' || %(value)s)
                      FROM c)
           SELECT id FROM c""", {"kind": kind, "value": value, "name": display_name, "now": now}).fetchone()[0]
    return customer_id, True


def get(conn: Conn, customer_id: int) -> Customer:
    row = conn.execute(
        """SELECT id, display_name, tier, notes, opted_out_channels, created_at, merged_into, preferred_channel
           FROM customers WHERE id = %s""",
        (customer_id,),
    ).fetchone()
    if row is None:
        raise CustomerNotFound(f"no customer {customer_id}")
    if row[6] is not None:
        return get(conn, row[6])
    identities = conn.execute(
        "SELECT kind, value FROM customer_identities WHERE customer_id = %s ORDER BY id", (row[0],)
    ).fetchall()
    return Customer(
        id=row[0],
        display_name=row[1],
        tier=Tier(row[2]),
        notes=row[3],
        opted_out_channels=[Channel(c) for c in row[4]],
        identities=[Identity(kind=IdentityKind(k), value=v) for k, v in identities],
        created_at=row[5],
        preferred_channel=Channel(row[7]) if row[7] else None,
    )


def set_tier(conn: Conn, customer_id: int, tier: Tier, now: datetime, actor: str | None) -> None:
    _update_live(conn, customer_id, "UPDATE customers SET tier = %s, updated_at = %s WHERE id = %s AND merged_into IS NULL",
                 (tier.value, now, customer_id))
    timeline.append(conn, "tier_changed", now, customer_id=customer_id, actor=actor, data={"tier": tier.value})


def set_profile(conn: Conn, customer_id: int, changes: dict[str, str | None], now: datetime, actor: str | None) -> None:
    """The customer's display name and notes (`changes` holds those to change)."""
    _update_live(conn, customer_id,
                 """UPDATE customers SET display_name = CASE WHEN %(set_name)s THEN %(name)s ELSE display_name END,
                           notes = CASE WHEN %(set_notes)s THEN %(notes)s ELSE notes END, updated_at = %(now)s
                    WHERE id = %(id)s AND merged_into IS NULL""",
                 {"set_name": "display_name" in changes, "name": changes.get("display_name"),
                  "set_notes": "notes" in changes, "notes": changes.get("notes"), "now": now, "id": customer_id})
    timeline.append(conn, "profile_changed", now, customer_id=customer_id, actor=actor, data=changes)


def set_opt_out(conn: Conn, customer_id: int, channel: Channel, opted_out: bool, now: datetime, actor: str | None) -> None:
    _update_live(
        conn,
        customer_id,
        """UPDATE customers SET opted_out_channels = CASE WHEN %(out)s
                   THEN array(SELECT DISTINCT unnest(opted_out_channels || ARRAY[%(ch)s]::text[]) ORDER BY 1)
                   ELSE array_remove(opted_out_channels, %(ch)s) END,
               updated_at = %(now)s
           WHERE id = %(id)s AND merged_into IS NULL""",
        {"out": opted_out, "ch": channel.value, "now": now, "id": customer_id},
    )
    timeline.append(
        conn,
        "contact_preference_changed",
        now,
        customer_id=customer_id,
        actor=actor,
        data={"channel": channel.value, "opted_out": opted_out},
    )


class IdentityTaken(ValueError):
    """The address identifies another customer already (merge the two profiles instead)."""

    def __init__(self, message: str, owner: int):
        super().__init__(message)
        self.owner = owner


def add_identity(conn: Conn, customer_id: int, kind: str, value: str, now: datetime, actor: str | None) -> bool:
    """Another address of the customer (an agent takes the caller's email); False if they had it."""
    lock_identity(conn, kind, value)
    owner = find_id_by_identity(conn, kind, value)
    if owner == customer_id:
        return False
    if owner is not None:
        raise IdentityTaken(f"{kind} {value} belongs to customer {owner}; merge the two profiles", owner)
    _update_live(conn, customer_id, "UPDATE customers SET updated_at = %s WHERE id = %s AND merged_into IS NULL",
                 (now, customer_id))
    conn.execute("INSERT INTO customer_identities (customer_id, kind, value) VALUES (%s, %s, %s)",
                 (customer_id, kind, value))
    timeline.append(conn, "identity_added", now, customer_id=customer_id, actor=actor,
                    data={"kind": kind, "value": value})
    return True


def set_preferred_channel(conn: Conn, customer_id: int, channel: Channel | None, now: datetime,
                          actor: str | None) -> None:
    _update_live(conn, customer_id, "UPDATE customers SET preferred_channel = %s, updated_at = %s "
                 "WHERE id = %s AND merged_into IS NULL", (channel.value if channel else None, now, customer_id))
    timeline.append(conn, "contact_preference_changed", now, customer_id=customer_id, actor=actor,
                    data={"preferred_channel": channel.value if channel else None})


def _update_live(conn: Conn, customer_id: int, sql: str, params) -> None:
    if conn.execute(sql, params).rowcount != 1:
        raise CustomerNotFound(f"no customer {customer_id} (or it was merged into another)")


def merge(conn: Conn, survivor_id: int, merged_id: int, now: datetime, actor: str | None) -> None:
    """Fold `merged_id` into `survivor_id`: identities, open and past interactions move; the merged
    profile stays as a tombstone pointing at the survivor so its old timeline rows still resolve."""
    if survivor_id == merged_id:
        raise MergeRefused("cannot merge a customer into itself")
    rows = conn.execute(
        """SELECT id, merged_into, tier, opted_out_channels, display_name, notes FROM customers
           WHERE id = ANY(%s) ORDER BY id FOR UPDATE""",
        ([survivor_id, merged_id],),
    ).fetchall()
    by_id = {r[0]: r for r in rows}
    for cid in (survivor_id, merged_id):
        if cid not in by_id:
            raise CustomerNotFound(f"no customer {cid}")
        if by_id[cid][1] is not None:
            raise MergeRefused(f"customer {cid} was already merged into {by_id[cid][1]}")
    # Ingest holds an identity lock while it resolves a sender; taking the same locks (in a
    # fixed order) keeps a contact from landing on the profile that is being folded away.
    identities = conn.execute(
        "SELECT kind, value FROM customer_identities WHERE customer_id = ANY(%s) ORDER BY kind, value",
        ([survivor_id, merged_id],),
    ).fetchall()
    for kind, value in identities:
        lock_identity(conn, kind, value)

    survivor, merged = by_id[survivor_id], by_id[merged_id]
    tier = max(survivor[2], merged[2], key=TIER_ORDER.index)
    opted_out = sorted(set(survivor[3]) | set(merged[3]))
    notes = "\n\n".join(n for n in (survivor[5], merged[5]) if n) or None
    conn.execute("UPDATE customer_identities SET customer_id = %s WHERE customer_id = %s", (survivor_id, merged_id))
    moved = conn.execute(
        "UPDATE interactions SET customer_id = %s WHERE customer_id = %s", (survivor_id, merged_id)
    ).rowcount
    conn.execute(
        "UPDATE customers SET merged_into = %s, updated_at = %s WHERE id = %s OR merged_into = %s",
        (survivor_id, now, merged_id, merged_id),
    )
    conn.execute(
        """UPDATE customers SET tier = %s, opted_out_channels = %s, notes = %s,
                  display_name = COALESCE(display_name, %s), updated_at = %s WHERE id = %s""",
        (tier, opted_out, notes, merged[4], now, survivor_id),
    )
    timeline.append(
        conn,
        "customer_merged",
        now,
        customer_id=survivor_id,
        actor=actor,
        data={"merged_customer_id": merged_id, "interactions_moved": moved, "identities": [f"{k}:{v}" for k, v in identities]},
    )
