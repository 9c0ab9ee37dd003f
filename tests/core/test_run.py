"""`cic-engine run` as a user starts it: a real process, a real port, real signals."""

import itertools
import json
import os
import select
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg
import pytest

from tests import processes

# Ports for test servers: below the kernel's range for outgoing connections (32768 and up on
# Linux), in a band of this pytest worker's own, handed out in turn. A port the kernel picked
# (bind to 0) could be taken by another worker, or by an outgoing connection, between this
# call and the server's bind.
PORT_BAND = 1500
_ports = itertools.count()


def free_port() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    low = 20000 + (int(worker[2:]) % 8 if worker[2:].isdigit() else 0) * PORT_BAND
    for _ in range(PORT_BAND):
        port = low + next(_ports) % PORT_BAND
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue  # someone listens there (or it is still closing): the next one
            return port
    raise AssertionError(f"no free port in {low}-{low + PORT_BAND - 1}")


def write_config(tmp_path: Path, database: str) -> tuple[Path, int]:
    port = free_port()
    (tmp_path / "channels").mkdir(exist_ok=True)
    path = tmp_path / "cic.toml"
    path.write_text(textwrap.dedent(f"""\
        [engine]
        node = "test-node"
        [database]
        {database}
        [web]
        bind = "127.0.0.1:{port}"
        [[queues]]
        name = "general"
        [[agents]]
        login = "alice"
        name = "Alice"
        queues = ["general"]
        """))
    return path, port


def start(config: Path, log: Path | None = None) -> subprocess.Popen:
    """The engine as `cic-engine run` starts it; its log goes to `log` when given (a pipe
    nobody reads would stall a chatty engine)."""
    proc = processes.spawn(
        [sys.executable, "-m", "cic_engine", "run", "--config", str(config)],
        stdout=subprocess.PIPE, stderr=log.open("a") if log else subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], deadline - time.monotonic())
        if not ready:
            break
        line = proc.stdout.readline()
        if not line:
            break
        if "ready" in line:
            return proc
    proc.kill()
    proc.wait(timeout=30)
    output = log.read_text() if log else proc.stderr.read()
    processes.stop(proc)
    raise AssertionError(f"engine did not become ready: {output[-3000:]}")


def engine_toml(node: str, db_url: str, web_port: int | None = None) -> str:
    """The head of a test node's cic.toml: its name, database and web port."""
    return (f'[engine]\nnode = "{node}"\n[database]\nurl = "{db_url}"\n'
            f'[web]\nbind = "127.0.0.1:{web_port or free_port()}"\n')


def print_engine_log(directory: Path, chars: int = 8000) -> None:
    """The tail of an engine's log (start(..., log=directory / "engine.log")); pytest shows it
    when the test failed."""
    log = directory / "engine.log"
    if log.exists():
        print(log.read_text()[-chars:])


def get_health(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def stop(proc: subprocess.Popen) -> int:
    """SIGTERM, as an operator stops the engine; its exit status (SIGKILL after 30 s: -9)."""
    return processes.stop(proc, wait_s=30)


def postmaster_pid(data_dir: Path) -> int | None:
    try:
        return int((data_dir / "postmaster.pid").read_text().split()[0])
    except FileNotFoundError:
        return None


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_run_serves_health_on_the_embedded_database_and_stops_it_on_sigterm(tmp_path):
    config, port = write_config(tmp_path, 'embedded_dir = "var/pg"')
    proc = start(config)
    try:
        status, body = get_health(port)
        assert status == 200
        assert body["status"] == "ok" and body["node"] == "test-node" and body["database"] == "embedded"
        assert body["store"]["ok"] is True and body["adapters"] == {}
        pg_pid = postmaster_pid(tmp_path / "var" / "pg")
        assert pg_pid is not None
    finally:
        code = stop(proc)
    assert code == 0
    assert postmaster_pid(tmp_path / "var" / "pg") is None  # PostgreSQL stopped cleanly with the engine
    assert wait_until(lambda: not process_exists(pg_pid), 10), f"postgres {pg_pid} still running"


def test_health_reports_failing_when_the_database_goes_away(tmp_path):
    config, port = write_config(tmp_path, 'embedded_dir = "var/pg"')
    proc = start(config)
    try:
        pg_pid = postmaster_pid(tmp_path / "var" / "pg")
        os.kill(pg_pid, signal.SIGINT)  # PostgreSQL's "fast" shutdown, what `pg_ctl stop` does
        assert wait_until(lambda: not process_exists(pg_pid), 30)
        status, body = get_health(port)
        assert status == 503 and body["status"] == "failing" and body["store"]["ok"] is False
    finally:
        assert stop(proc) == 0


def test_run_on_an_external_database_migrates_and_seeds_it(tmp_path, blank_db_url):
    config, port = write_config(tmp_path, f'url = "{blank_db_url}"')
    proc = start(config)
    try:
        status, body = get_health(port)
        assert status == 200 and body["database"] == "external"
    finally:
        assert stop(proc) == 0
    with psycopg.connect(blank_db_url) as conn:
        assert conn.execute("SELECT login FROM agents").fetchall() == [("alice",)]
        assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] >= 1


def test_run_refuses_to_start_on_a_bad_config(tmp_path):
    config, port = write_config(tmp_path, 'url = "mysql://nope"')
    result = subprocess.run(
        [sys.executable, "-m", "cic_engine", "run", "--config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert f"{config}: database.url: Value error, must start with postgresql://" in result.stderr
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1)


def test_db_upgrade_command_is_safe_to_repeat(tmp_path, blank_db_url):
    config, _ = write_config(tmp_path, f'url = "{blank_db_url}"')
    cmd = [sys.executable, "-m", "cic_engine", "db", "upgrade", "--config", str(config)]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert first.stdout.startswith("applied: 0001_base")
    assert second.stdout.strip() == "database is up to date"


def test_a_second_engine_on_a_busy_port_says_so_in_one_line_and_leaves_the_first_alone(tmp_path, db_url):
    config, port = write_config(tmp_path, f'url = "{db_url}"')
    first = start(config)
    try:
        pid_file = tmp_path / f".{config.name}.pid"
        assert pid_file.read_text().split() == [str(first.pid)]
        second = subprocess.run([sys.executable, "-m", "cic_engine", "run", "--config", str(config)],
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 1
        lines = [line for line in second.stderr.splitlines() if "pikepdf" not in line]
        assert lines == [f"cic-engine: cannot listen on 127.0.0.1:{port}: in use (another cic-engine? "
                         "set [web] bind)"]
        assert pid_file.read_text().split() == [str(first.pid)]  # the running engine's pid file stays
        assert get_health(port)[0] == 200
    finally:
        assert stop(first) == 0
