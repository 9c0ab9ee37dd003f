"""Fault drills under a steady mixed load (email, SMS and calls in; email and SMS replies out):
each fault is injected while contacts flow, then every contact sent in must be stored exactly
once and every reply delivered once or failed with a reason. The figures of each drill are
printed as one line (`drill=... contacts_in=... stored=... duplicates=... replies_lost=...`)."""

from __future__ import annotations

import subprocess
import sys

import gevent
import pytest

from tests.drills.mixed import MixedCenter, restart_postgres

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def center(tmp_path, db_url):
    found = MixedCenter(tmp_path, db_url)
    found.start_engine()
    yield found
    found.stop()


def _engine_kill(center):
    center.kill_engine()
    gevent.sleep(1.0)
    center.start_engine()


def _postgres_restart(center):
    restart_postgres(center.db_url, down_s=2.0)


def _imap_restart(center):
    center.dovecot.restart()


def _smpp_restart(center):
    center.restart_smsc()


def _esl_loss(center):
    center.switch.drop_connections()


def _slow_database(center):
    center.proxy.delay_s = 0.01  # 10 ms each way on every exchange with PostgreSQL, from now on


def _reload(center):
    sms = center.tmp_path / "channels" / "sms.toml"
    sms.write_text(sms.read_text().replace("timeout_s = 5", "timeout_s = 6"))
    done = subprocess.run([sys.executable, "-m", "cic_engine", "reload", "--config", str(center.tmp_path / "cic.toml")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


DRILLS = {"engine SIGKILL and restart": _engine_kill, "PostgreSQL restart": _postgres_restart,
          "IMAP server restart": _imap_restart, "SMPP server restart": _smpp_restart,
          "ESL connection loss": _esl_loss, "slow database (+10 ms each way)": _slow_database,
          "config reload": _reload}


@pytest.mark.parametrize("drill", list(DRILLS))
def test_a_fault_under_mixed_load_loses_and_doubles_nothing(center, drill):
    load = center.run_load(contacts=60, every_s=0.1, calls=True)
    gevent.sleep(2.0)
    DRILLS[drill](center)
    load.join(timeout=120)
    result = center.settle()
    print(f"\ndrill={drill!r} load='60 contacts, email and SMS every 0.1 s, a call every tenth, 6 replies' " +
          " ".join(f"{k}={v}" for k, v in result.items()))
    assert result["contacts_in"] == 66 and result["stored"] == result["contacts_in"], result  # 60 + 6 calls
    assert result["duplicates"] == 0, result
    assert result["replies_lost"] == 0 and result["replies_pending"] == 0 and result["replies_doubled"] == 0, result
    assert result["failed_without_reason"] == 0, result


def test_two_nodes_one_killed_the_other_takes_over_its_work(center):
    center.start_second_node()
    load = center.run_load(contacts=60, every_s=0.1, calls=True)
    gevent.sleep(2.0)
    center.kill_engine()  # not restarted: node B carries on alone
    load.join(timeout=120)
    result = center.settle()
    print("\ndrill='two nodes, one SIGKILLed' load='60 contacts, email and SMS every 0.1 s, a call every tenth, "
          "6 replies' " + " ".join(f"{k}={v}" for k, v in result.items()))
    assert result["contacts_in"] == 66 and result["stored"] == result["contacts_in"], result
    assert result["duplicates"] == 0, result
    assert result["replies_lost"] == 0 and result["replies_pending"] == 0 and result["replies_doubled"] == 0, result
    assert center.second.poll() is None
