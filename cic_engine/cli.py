"""`cic-engine run | check-config | db upgrade | passwd | hash-password | reload | rejected | reingest | schemas`.

gevent's monkey patching must happen before anything imports psycopg (which picks its wait
function at import) or sockets; this module therefore patches first and imports the rest later.
"""

import gevent
from gevent import monkey

monkey.patch_all()
# gevent otherwise keeps each greenlet's spawning stack: with thousands of sockets, a fifth of
# the heap the collector walks, for a debugging aid.
gevent.config.track_greenlet_tree = False

import argparse  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from .logs import setup as setup_logging  # noqa: E402 - after the monkey patching

log = logging.getLogger("cic_engine")
EXIT_CONFIG = 2


def _assert_cooperative_psycopg() -> None:
    import psycopg.waiting

    if psycopg.waiting.wait.__name__ == "wait_c":
        raise RuntimeError("psycopg was imported before gevent patched the standard library; queries would block the hub")


def _load(config_path: str):
    from .config import ConfigError, load_config

    try:
        return load_config(Path(config_path))
    except ConfigError as exc:
        print(f"cic-engine: configuration refused ({len(exc.problems)} problem(s)):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None


def cmd_check_config(args) -> int:
    from .config import security_warnings

    loaded = _load(args.config)
    cic = loaded.cic
    print(
        f"ok: {loaded.path}: node {cic.engine.node}, {len(cic.queues)} queue(s), {len(cic.agents)} agent seed(s), "
        f"{len(loaded.adapters)} adapter(s)" + "".join(f"\n  {a.name} ({a.kind}) from {a.path}" for a in loaded.adapters)
    )
    for warning in security_warnings(loaded.cic):
        print(f"warning: {loaded.path}: {warning}")
    return 0


def _with_database(config_path: str, work, upgrade_first: bool = True) -> object:
    """Run work(url) against the configured database (brought up to date first, unless told
    not to), the embedded one started for it if need be."""
    from .store import migrations
    from .store.embedded import EmbeddedPostgres

    loaded = _load(config_path)
    embedded = None
    url = loaded.cic.database.url
    if not url:
        embedded = EmbeddedPostgres(loaded.resolve(loaded.cic.database.embedded_dir))
        url = embedded.start()
    try:
        if upgrade_first:
            migrations.upgrade(url)
        return work(url)
    finally:
        if embedded:
            embedded.stop()


def cmd_db_upgrade(args) -> int:
    from .store import migrations

    applied = _with_database(args.config, migrations.upgrade, upgrade_first=False)
    print("applied: " + ", ".join(applied) if applied else "database is up to date")
    return 0


def _read_password() -> str:
    password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < 8:
        print("cic-engine: a password needs at least 8 characters (read from standard input)", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG)
    return password


def cmd_hash_password(args) -> int:
    from .web.auth import hash_password

    print(hash_password(_read_password()))
    return 0


def cmd_passwd(args) -> int:
    import psycopg

    from .store import sessions
    from .web.auth import hash_password

    seed = next((a for a in _load(args.config).cic.agents if a.login == args.login), None)
    if seed is not None and seed.password_hash:
        # The file's hash is put back on every start and reload: a password set here would
        # quietly stop working at the next one.
        print(f"cic-engine: {args.login}'s password_hash is in {args.config}, which would put it back at the next "
              "reload: remove that line first (or put a new hash there: cic-engine hash-password)", file=sys.stderr)
        return 1
    hashed = hash_password(_read_password())

    def work(url: str) -> bool:
        with psycopg.connect(url, autocommit=True) as conn:
            found = sessions.set_password_hash(conn, args.login, hashed)
            if found:
                sessions.end_all(conn, sessions.password_hash(conn, args.login)[0])
            return found

    if not _with_database(args.config, work):
        print(f"cic-engine: no agent {args.login!r} (agents come from cic.toml; start the engine once)", file=sys.stderr)
        return 1
    print(f"password of {args.login} set; their open sessions are logged out")
    return 0


def _listen(bind: str, address: tuple[str, int]):
    """The inbox's listening socket, bound before anything else starts: a port in use is one
    line, not a traceback after the database and the adapters came up."""
    from gevent import socket

    try:
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(1024)
        return sock
    except OSError as exc:
        why = "in use (another cic-engine?" if exc.errno == 98 else f"{exc.strerror or exc} ("
        print(f"cic-engine: cannot listen on {bind}: {why} set [web] bind)", file=sys.stderr)
        raise SystemExit(1) from None


def cmd_run(args) -> int:
    import gevent

    from .discovery import discover_adapter_kinds
    from .node import Node

    _assert_cooperative_psycopg()
    loaded = _load(args.config)
    listener = _listen(loaded.cic.web.bind, loaded.cic.web.address)
    node = Node(loaded, discover_adapter_kinds())
    node.listener = listener
    for signum in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(signum, node.request_stop)
    gevent.signal_handler(signal.SIGHUP, lambda: gevent.spawn(node.reload))  # `cic-engine reload` sends it
    pid_file = _pid_file(loaded.path)
    wrote_pid = False
    try:
        node.start()
        _settle_heap()
        pid_file.write_text(f"{os.getpid()}\n")
        wrote_pid = True
        print(f"cic-engine node {node.name} ready: http://{loaded.cic.web.bind}/healthz", flush=True)
        node.serve_until_stopped()
        log.info("stopping on signal")
    finally:
        node.stop()
        if wrote_pid:  # never another engine's: a start that failed wrote none
            pid_file.unlink(missing_ok=True)
    return 0


def _settle_heap() -> None:
    """What start-up built (modules, config, adapters) lives as long as the process: out of the
    collector's sight, so that a full collection walks only what serving creates. With 5,000
    chat sockets open a full walk of everything took 300-900 ms, every socket waiting meanwhile."""
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 10)


def _pid_file(config: Path) -> Path:
    """Where a running engine leaves its pid for `cic-engine reload`: next to its cic.toml."""
    return config.resolve().parent / f".{config.name}.pid"


def cmd_reload(args) -> int:
    """Validate the configuration here (so a mistake is seen at once), then ask the running
    engine to apply it (SIGHUP) and report what it did, from its /healthz."""
    import json
    import time
    import urllib.request

    loaded = _load(args.config)  # exits 2, naming file, key and problem, when it is not valid
    try:
        pid = int(_pid_file(loaded.path).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        print(f"cic-engine: no engine is running with {loaded.path} (no pid file)", file=sys.stderr)
        return 1
    url = f"http://{loaded.cic.web.bind}/healthz"

    def reloads() -> tuple[int, dict | None]:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                config = json.loads(response.read())["config"]
        except Exception:  # noqa: BLE001 - a 503 still carries the body, but a dead engine does not
            return -1, None
        return config["reloads"], config["last_reload"]
    before, last = reloads()
    os.kill(pid, signal.SIGHUP)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        count, result = reloads()
        if result is not None and (count > before or result != last):
            if result["ok"]:
                print(f"reloaded: {result['changes']}")
                return 0
            print("cic-engine: the engine refused the reload; its configuration stays:", file=sys.stderr)
            for problem in result["problems"]:
                print(f"  {problem}", file=sys.stderr)
            return EXIT_CONFIG
        time.sleep(0.2)
    print("cic-engine: the engine did not report the reload within 30 s", file=sys.stderr)
    return 1


def cmd_schemas(args) -> int:
    from .schemas import write_schemas

    changed = write_schemas(Path(args.out))
    print(f"wrote {len(changed)} changed schema file(s) to {args.out}" if changed else "schemas are up to date")
    return 0

def _cli_actor() -> str:
    """Who acts from the shell, as the records name them."""
    return f"cli:{os.environ.get('USER', 'root')}"


def cmd_rejected(args) -> int:
    """The contacts channels could not take in, newest first (what the board shows); or take
    one off the list."""
    from datetime import UTC, datetime

    import psycopg

    from .store import rejected

    def work(url: str) -> list | bool:
        with psycopg.connect(url, autocommit=True) as conn:
            if args.dismiss is not None:
                return rejected.dismiss(conn, args.dismiss, _cli_actor(), datetime.now(UTC))
            return rejected.waiting(conn, args.limit)

    rows = _with_database(args.config, work, upgrade_first=False)
    if args.dismiss is not None:
        if not rows:
            print(f"cic-engine: no rejected contact #{args.dismiss} waits", file=sys.stderr)
            return 1
        print(f"#{args.dismiss} dismissed (its bytes stay on record)")
        return 0
    for row in rows:
        where = ", ".join(f"{k}={v}" for k, v in row.source.items())
        state = f"  re-ingest failed: {row.reingest_error}" if row.reingest_error else (
            "  re-ingest requested" if row.reingest_requested_at else "")
        print(f"#{row.id} {row.created_at:%Y-%m-%d %H:%M:%S} {row.channel}/{row.adapter} ({where}): {row.reason}{state}")
    if not rows:
        print("no rejected contacts wait")
    return 0


def cmd_reingest(args) -> int:
    """Ask the engine running the contact's adapter to take it in again, and wait for its answer."""
    import time
    from datetime import UTC, datetime

    import psycopg

    from .store import rejected

    def work(url: str) -> int:
        with psycopg.connect(url, autocommit=True) as conn:
            row = rejected.request_reingest(conn, args.id, _cli_actor(),
                                            datetime.now(UTC))
            if row is None:
                print(f"cic-engine: no rejected contact #{args.id} waits to be re-ingested", file=sys.stderr)
                return 1
            deadline = time.monotonic() + args.wait
            while time.monotonic() < deadline:
                row = rejected.get(conn, args.id)
                assert row is not None
                if row.reingested_at is not None:
                    print(f"#{row.id} re-ingested" + (f": interaction {row.interaction_id}" if row.interaction_id else ""))
                    return 0
                if row.reingest_requested_at is None:
                    print(f"cic-engine: #{row.id} still cannot be taken in: {row.reingest_error}", file=sys.stderr)
                    return 1
                time.sleep(0.2)
            print(f"#{args.id} requested; no running engine with adapter {row.adapter!r} took it within "
                  f"{args.wait:g} s (it will when one runs)")
            return 3

    return _with_database(args.config, work, upgrade_first=False)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cic-engine", description="Omnichannel contact engine")
    parser.add_argument("--log-level", default=os.environ.get("CIC_LOG_LEVEL", "INFO"))
    parser.add_argument("--log-format", choices=("text", "json"), default=os.environ.get("CIC_LOG_FORMAT", "text"),
                        help="json: one object per line with the interaction, call and case ids")
    sub = parser.add_subparsers(dest="command", required=True)
    default_config = os.environ.get("CIC_CONFIG", "cic.toml")

    run = sub.add_parser("run", help="start the engine")
    run.add_argument("--config", default=default_config)
    run.set_defaults(func=cmd_run)

    check = sub.add_parser("check-config", help="validate cic.toml and channels/*.toml without starting")
    check.add_argument("--config", default=default_config)
    check.set_defaults(func=cmd_check_config)

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_sub.add_parser("upgrade", help="apply pending schemas/sql migrations")
    upgrade.add_argument("--config", default=default_config)
    upgrade.set_defaults(func=cmd_db_upgrade)

    passwd = sub.add_parser("passwd", help="set an agent's inbox password (read from standard input)")
    passwd.add_argument("login")
    passwd.add_argument("--config", default=default_config)
    passwd.set_defaults(func=cmd_passwd)

    hashed = sub.add_parser("hash-password", help="print the argon2 hash of a password read from standard input")
    hashed.set_defaults(func=cmd_hash_password)

    reload = sub.add_parser("reload", help="validate the configuration and have the running engine apply it")
    reload.add_argument("--config", default=default_config)
    reload.set_defaults(func=cmd_reload)

    listing = sub.add_parser("rejected", help="list the contacts channels could not take in")
    listing.add_argument("--limit", type=int, default=100)
    listing.add_argument("--dismiss", type=int, metavar="ID", help="take one off the list for good (nothing in it "
                         "can be taken in); its bytes stay on record")
    listing.add_argument("--config", default=default_config)
    listing.set_defaults(func=cmd_rejected)

    reingest = sub.add_parser("reingest", help="have the running engine take a rejected contact in again")
    reingest.add_argument("id", type=int)
    reingest.add_argument("--wait", type=float, default=30, help="seconds to wait for the engine's answer")
    reingest.add_argument("--config", default=default_config)
    reingest.set_defaults(func=cmd_reingest)

    schemas = sub.add_parser("schemas", help="regenerate the JSON Schemas of the public models")
    schemas.add_argument("--out", default="schemas/json")
    schemas.set_defaults(func=cmd_schemas)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level, args.log_format)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
