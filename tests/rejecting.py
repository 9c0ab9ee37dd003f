"""For tests of the poison path: a database rule that refuses some rows (standing for any data
error nobody foresaw), the rejected contacts on record, and the CLI that re-ingests them."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from pathlib import Path


@contextlib.contextmanager
def refusing(store, table: str, condition: str):
    """Rows of `table` for which `condition` (over NEW) holds are refused as a check violation."""
    with store.transaction() as conn:
        conn.execute(f"""CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
                         BEGIN
                           IF {condition} THEN
                             RAISE EXCEPTION 'value refused by a rule this test added' USING ERRCODE = 'check_violation';
                           END IF;
                           RETURN NEW;
                         END $$""")
        conn.execute(f"CREATE TRIGGER refuse_poison BEFORE INSERT ON {table} FOR EACH ROW "
                     "EXECUTE FUNCTION refuse_poison()")
    try:
        yield lift
    finally:
        lift(store, table)


def lift(store, table: str) -> None:
    with store.transaction() as conn:
        conn.execute(f"DROP TRIGGER IF EXISTS refuse_poison ON {table}")
        conn.execute("DROP FUNCTION IF EXISTS refuse_poison()")


def rejected(store) -> list[tuple]:
    with store.transaction() as conn:
        return conn.execute("SELECT id, channel, adapter, reason, source, raw FROM rejected_contacts "
                            "WHERE reingested_at IS NULL AND dismissed_at IS NULL ORDER BY id").fetchall()


def cli(config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cic_engine", *args, "--config", str(config)],
                          capture_output=True, text=True, timeout=60)
