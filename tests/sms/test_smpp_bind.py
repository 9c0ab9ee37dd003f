"""Binding to an SMSC that checks credentials (Debian's Net::SMPP server, a third
implementation, independent of smpplib and of smpp34): a refused bind is reported with the
SMSC's reason and retried slowly, never hammered; the right credentials bind."""

from __future__ import annotations

import signal
import subprocess
import time

import gevent
import pytest

from cic_engine.sms import segments
from cic_engine.sms.smpp import ESME_ROK, SmppLink, SubmitFailed
from tests import processes
from tests.core.test_run import free_port
from tests.smsc import ROOT

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def checking_smsc():
    port = free_port()
    proc = processes.spawn(["perl", str(ROOT / "tests/smsc/netsmpp_smsc.pl"), str(port), "cic", "s3cret"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line.strip() == "ready", f"Net::SMPP SMSC did not start: {line!r} {proc.stderr.read()}"
    proc.port = port
    yield proc
    processes.stop(proc, signal.SIGKILL)


def link_to(port: int, system_id: str, password: str) -> SmppLink:
    link = SmppLink("127.0.0.1", port, system_id, password, lambda message: ESME_ROK, enquire_link_s=2, timeout_s=5)
    link.start()
    return link


def refused(port: int, system_id: str, password: str) -> SmppLink:
    """A link whose bind has been answered (and refused, the tests check)."""
    link = link_to(port, system_id, password)
    wait_for(lambda: link.last_error is not None)
    assert not link.bound.is_set()
    return link


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        gevent.sleep(0.05)


def test_a_wrong_password_is_refused_with_the_smscs_reason_and_not_retried_in_a_tight_loop(checking_smsc):
    link = refused(checking_smsc.port, "cic", "wrong")
    try:
        assert link.last_error == "bind refused by the SMSC: (14) bind_transceiver_resp: Invalid Password"
        with pytest.raises(SubmitFailed) as not_bound:
            link.submit(segments.split("hello", reference=1), "10086", "+8613800138000")
        assert not_bound.value.temporary and "not bound" in str(not_bound.value)
        gevent.sleep(2.0)  # a refused bind waits about 30 s before the next try
    finally:
        link.stop()
    checking_smsc.kill()
    binds = [line for line in checking_smsc.stdout.read().splitlines() if line.startswith("bind ")]
    assert binds == ["bind cic status 14"]


def test_an_unknown_system_id_is_refused_too(checking_smsc):
    link = refused(checking_smsc.port, "somebody", "s3cret")
    try:
        assert link.last_error == "bind refused by the SMSC: (15) bind_transceiver_resp: Invalid System ID"
    finally:
        link.stop()


def test_the_right_credentials_bind_and_the_session_stays_up(checking_smsc):
    link = link_to(checking_smsc.port, "cic", "s3cret")
    try:
        assert link.bound.wait(10), link.last_error
        gevent.sleep(4.5)  # two enquire_link rounds answered by the SMSC
        assert link.bound.is_set() and link.binds == 1 and link.last_error is None
    finally:
        link.stop()
