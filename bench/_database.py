"""A throwaway embedded PostgreSQL with the schema applied, for one benchmark run."""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cic_engine.store import migrations  # noqa: E402
from cic_engine.store.embedded import EmbeddedPostgres  # noqa: E402


@contextmanager
def bench_database() -> Iterator[str]:
    tmp = Path(tempfile.mkdtemp(prefix="cic-bench-"))
    server = EmbeddedPostgres(tmp / "pg")
    try:
        url = server.start()
        migrations.upgrade(url)
        yield url
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
