import subprocess
import sys

import psycopg
import pytest

from cic_engine.store import migrations
from tests import processes

EXPECTED_TABLES = {
    "customers", "customer_identities", "queues", "agents", "agent_queues", "interactions", "messages",
    "message_parts", "attachments", "timeline_events", "outbox", "adapter_checkpoints", "schema_migrations",
}


def _tables(url):
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


def test_upgrade_creates_the_schema_and_records_each_migration(blank_db_url):
    applied = migrations.upgrade(blank_db_url)
    assert applied == [f"{m.version:04d}_{m.name}" for m in migrations.read_migrations()]
    assert EXPECTED_TABLES <= _tables(blank_db_url)
    with psycopg.connect(blank_db_url) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
    assert versions == [m.version for m in migrations.read_migrations()]


def test_upgrade_twice_applies_nothing_the_second_time(blank_db_url):
    migrations.upgrade(blank_db_url)
    assert migrations.upgrade(blank_db_url) == []


def test_two_processes_upgrading_at_once_apply_each_migration_once(blank_db_url):
    code = "import sys; from cic_engine.store import migrations; print(len(migrations.upgrade(sys.argv[1])))"
    procs = [
        processes.spawn([sys.executable, "-c", code, blank_db_url], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                        text=True)
        for _ in range(2)
    ]
    results = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in results]
    applied_counts = sorted(int(out) for out, _ in results)
    assert applied_counts == [0, len(migrations.read_migrations())]
    with psycopg.connect(blank_db_url) as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT version) FROM schema_migrations").fetchone() == (
            len(migrations.read_migrations()),
        ) * 2


def test_a_changed_applied_migration_is_refused(blank_db_url, tmp_path):
    sql_dir = tmp_path / "sql"
    sql_dir.mkdir()
    (sql_dir / "0001_first.sql").write_text("CREATE TABLE first_one (id int);")
    migrations.upgrade(blank_db_url, sql_dir)
    (sql_dir / "0001_first.sql").write_text("CREATE TABLE first_one (id bigint);")
    with pytest.raises(migrations.MigrationError, match="0001_first.sql was changed after it was applied"):
        migrations.upgrade(blank_db_url, sql_dir)


def test_a_failing_migration_leaves_nothing_half_applied(blank_db_url, tmp_path):
    sql_dir = tmp_path / "sql"
    sql_dir.mkdir()
    (sql_dir / "0001_ok.sql").write_text("CREATE TABLE ok_one (id int);")
    (sql_dir / "0002_broken.sql").write_text("CREATE TABLE half (id int); SELECT no_such_function();")
    with pytest.raises(psycopg.errors.UndefinedFunction):
        migrations.upgrade(blank_db_url, sql_dir)
    tables = _tables(blank_db_url)
    assert "ok_one" in tables and "half" not in tables
    with psycopg.connect(blank_db_url) as conn:
        assert [r[0] for r in conn.execute("SELECT version FROM schema_migrations")] == [1]


@pytest.mark.parametrize("name", ["1_short.sql", "0001-dash.sql", "0001_Upper.sql"])
def test_badly_named_migration_files_are_refused(tmp_path, name):
    (tmp_path / name).write_text("SELECT 1;")
    with pytest.raises(migrations.MigrationError, match="named NNNN_name.sql"):
        migrations.read_migrations(tmp_path)


def test_the_timeline_is_append_only(db_url):
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO timeline_events (kind) VALUES ('test')")
        conn.commit()
        for stmt in ("UPDATE timeline_events SET kind = 'forged'", "DELETE FROM timeline_events"):
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                conn.execute(stmt)
            conn.rollback()
