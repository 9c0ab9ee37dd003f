"""The SMS channel end to end: a real `cic-engine run`, the SMPP adapter bound to the test
SMSC (smpp34's server, an independent implementation), the database read as an agent would."""

from __future__ import annotations

import textwrap

import pytest

from cic_engine.replies import Replies, ReplyRefused
from cic_engine.sms import segments
from tests.core.test_run import engine_toml, print_engine_log, start, stop
from tests.rejecting import cli, refusing, rejected
from tests.waiting import wait_for

pytestmark = pytest.mark.timeout(120)
CUSTOMER = "8613800138000"
OURS = "10690000"



@pytest.fixture
def engine(tmp_path, db_url, smsc):
    (tmp_path / "channels").mkdir()
    (tmp_path / "cic.toml").write_text(engine_toml("sms-node", db_url) + textwrap.dedent("""\
        [outbox]
        backoff_s = 0.3
        [[queues]]
        name = "general"
        """))
    (tmp_path / "channels" / "sms.toml").write_text(textwrap.dedent(f"""\
        kind = "sms"
        address = "{OURS}"
        region = "CN"
        [smpp]
        port = {smsc.port}
        system_id = "cic"
        password_env = "CIC_TEST_SMPP_PASSWORD"
        enquire_link_s = 2
        timeout_s = 5
        """))
    import os

    os.environ["CIC_TEST_SMPP_PASSWORD"] = "secret"
    proc = start(tmp_path / "cic.toml", log=tmp_path / "engine.log")
    wait_for(lambda: smsc.ask(cmd="bound")["sessions"] == ["cic"], what="the engine bound")
    yield proc
    if proc.poll() is None:
        assert stop(proc) == 0
    print_engine_log(tmp_path)


def rows(store, sql: str, *args) -> list[tuple]:
    with store.transaction() as conn:
        return conn.execute(sql, args).fetchall()


def texts(store) -> list[tuple]:
    return rows(store, """SELECT m.sender, p.body FROM messages m JOIN message_parts p ON p.message_id = m.id
                          WHERE m.channel = 'sms' AND m.direction = 'inbound' ORDER BY m.id""")


def test_a_text_is_committed_before_the_smsc_gets_its_answer(engine, smsc, store):
    assert smsc.deliver(CUSTOMER, OURS, "您好，我的快递还没到。".encode("utf-16-be"), data_coding=8) == 0
    # The deliver_sm_resp has arrived: the message is in the database already, no waiting.
    assert texts(store) == [("+8613800138000", "您好，我的快递还没到。")]
    assert rows(store, "SELECT channel, state, endpoint FROM interactions") == [("sms", "queued", OURS)]
    smsc.deliver(CUSTOMER, OURS, b"Order 1234")  # GSM, the same conversation
    assert rows(store, "SELECT count(*) FROM interactions") == [(1,)]


def test_a_long_text_in_parts_out_of_order_becomes_one_message(engine, smsc, store):
    long = "我的订单号是一二三四，" * 15  # 150 UCS-2 characters: 3 parts
    parts = segments.split(long, reference=200).parts
    for part in (parts[2], parts[0], parts[1]):
        assert smsc.deliver(CUSTOMER, OURS, part, data_coding=8, esm_class=0x40) == 0
    assert texts(store) == [("+8613800138000", long)]
    assert rows(store, "SELECT count(*) FROM sms_parts") == [(0,)]


def test_a_reply_goes_out_in_ucs2_parts_and_its_receipt_lands_on_the_timeline(engine, smsc, store):
    smsc.ask(cmd="receipts", stat="DELIVRD")
    smsc.deliver(CUSTOMER, OURS, b"Where is my parcel?")
    interaction = rows(store, "SELECT id FROM interactions")[0][0]
    answer = "您的包裹今天发出，明天送达。如有问题请回复。" * 4  # 88 characters: 2 parts
    Replies(store).reply(interaction, answer)
    wait_for(lambda: len(smsc.submits()) == 2, what="two parts at the SMSC")
    submits = smsc.submits()
    assert {(s["source"], s["destination"], s["data_coding"], s["esm_class"]) for s in submits} == {
        (OURS, CUSTOMER, 8, 0x40)}
    wait_for(lambda: rows(store, "SELECT count(*) FROM timeline_events WHERE kind = 'sms_receipt'")[0][0] == 2,
             what="two receipts")
    # Receipts can come before the outbox has written down that the message went (early receipts).
    wait_for(lambda: rows(store, "SELECT state FROM outbox") == [("sent",)], what="the reply marked sent")
    assert rows(store, "SELECT state FROM sms_submits ORDER BY part") == [("delivered",), ("delivered",)]


def test_stop_opts_the_customer_out_and_every_later_send_is_refused(engine, smsc, store):
    smsc.deliver(CUSTOMER, OURS, b"Hello")
    interaction = rows(store, "SELECT id FROM interactions")[0][0]
    smsc.ask(cmd="throttle", n=1000)  # the SMSC holds the next reply back...
    queued = Replies(store).reply(interaction, "written before the STOP")
    wait_for(lambda: rows(store, "SELECT last_error FROM outbox WHERE id = %s", queued)[0][0],
             what="a first attempt given up (throttled)")
    smsc.deliver(CUSTOMER, OURS, "退订".encode("utf-16-be"), data_coding=8)  # ...until the opt-out is in
    assert rows(store, "SELECT opted_out_channels FROM customers") == [(["sms"],)]
    with pytest.raises(ReplyRefused, match="opted out of sms"):
        Replies(store).reply(interaction, "after the STOP")
    smsc.ask(cmd="throttle", n=0)
    wait_for(lambda: rows(store, "SELECT state FROM outbox WHERE id = %s", queued)[0][0] == "failed",
             what="the reply written before the STOP refused at sending")
    assert "opted out of SMS" in rows(store, "SELECT last_error FROM outbox WHERE id = %s", queued)[0][0]
    assert all(s["answer"] == "throttled" for s in smsc.submits())
    # The keyword itself needs no agent.
    assert rows(store, """SELECT count(*) FROM messages m JOIN interactions i ON i.id = m.interaction_id
                          WHERE m.metadata ->> 'keyword' = 'opt-out'""") == [(1,)]
    smsc.deliver(CUSTOMER, OURS, b"START")
    assert rows(store, "SELECT opted_out_channels FROM customers") == [([],)]


def test_an_smsc_restart_loses_nothing_and_doubles_nothing(engine, smsc, store):
    smsc.deliver(CUSTOMER, OURS, b"before the restart")
    interaction = rows(store, "SELECT id FROM interactions")[0][0]
    smsc.stop()
    Replies(store).reply(interaction, "sent while the SMSC is away")
    wait_for(lambda: rows(store, "SELECT last_error FROM outbox")[0][0], what="a first failed attempt")
    smsc.start()
    wait_for(lambda: rows(store, "SELECT state FROM outbox")[0][0] == "sent", what="the reply sent after the restart")
    assert [s["answer"] for s in smsc.submits()] == ["accepted"]
    # The SMSC delivers again a message whose answer it never saw: taken once.
    smsc.deliver(CUSTOMER, OURS, b"before the restart")
    assert [t for _, t in texts(store)] == ["before the restart"]


def test_a_text_the_database_refuses_is_answered_ok_on_record_and_the_next_is_taken(engine, smsc, store, tmp_path):
    """Answered with an error, the SMSC would deliver it again forever; it is answered OK and
    kept as rejected, the next texts come in, and after the fix it is re-ingested by hand."""
    with refusing(store, "message_parts", "NEW.body LIKE '%退款%'") as lift:
        assert smsc.deliver(CUSTOMER, OURS, "我要退款".encode("utf-16-be"), data_coding=8) == 0
        assert smsc.deliver(CUSTOMER, OURS, b"Order 1234") == 0
        assert texts(store) == [("+8613800138000", "Order 1234")]
        [(rejected_id, channel, adapter, reason, source, raw)] = rejected(store)
        assert (channel, adapter, bytes(raw)) == ("sms", "sms", "我要退款".encode("utf-16-be"))
        assert source == {"via": "smpp", "from": "+8613800138000", "to": OURS, "data_coding": "8", "esm_class": "0"}
        assert reason.startswith("CheckViolation: value refused by a rule this test added")
        lift(store, "message_parts")
        done = cli(tmp_path / "cic.toml", "reingest", str(rejected_id))
        assert done.returncode == 0, done.stderr
    assert texts(store) == [("+8613800138000", "Order 1234"), ("+8613800138000", "我要退款")]
