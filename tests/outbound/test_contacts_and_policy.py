"""Campaign contacts from CSV, reported row by row, and the rules checked before every attempt:
do-not-contact, opt-outs, the weekly cap across campaigns, quiet hours and call windows in the
customer's own time zone (an injectable clock: the times are given)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from cic_engine.outbound.contacts import import_csv
from cic_engine.outbound.policy import Customer, Rules, Window, may_contact

CSV = """phone,name,time_zone,plan
13800138000,Zhang Wei,Asia/Shanghai,gold
+1 415 555 0100,Ann Lee,America/Los_Angeles,silver
12345,Bad Number,,basic
13800138000,Zhang Again,,gold
13900139000,No Zone,Mars/Olympus,basic
,Empty,,basic
13700137000,"Quoted, Name",Europe/Berlin,basic,extra
"""


def test_a_csv_import_keeps_the_good_rows_and_reports_every_bad_one():
    report = import_csv(CSV.encode(), "voice", "CN")
    assert [(c.row, c.phone, c.name, c.time_zone, c.fields) for c in report.contacts] == [
        (2, "+8613800138000", "Zhang Wei", "Asia/Shanghai", {"plan": "gold"}),
        (3, "+14155550100", "Ann Lee", "America/Los_Angeles", {"plan": "silver"})]
    errors = dict(report.errors)
    assert "not a valid phone number" in errors[4]
    assert errors[5] == "the same phone as row 2"
    assert errors[6].startswith("unknown time zone 'Mars/Olympus'")
    assert errors[7] == "phone is empty"
    assert errors[8] == "more values than columns"
    assert report.summary == "2 contact(s) imported, 5 row(s) refused"


def test_an_email_campaign_needs_an_email_column_and_a_file_in_utf8():
    report = import_csv("phone\n138\n", "email", "CN")
    assert report.errors[0][0] == 1 and "no email column" in report.errors[0][1]
    assert import_csv(b"\xff\xfephone", "sms", "CN").errors[0][1].startswith("the file is not UTF-8")


RULES = Rules(window=Window(time(9, 0), time(18, 0), frozenset(range(5))), quiet=(time(21, 0), time(8, 0)),
              max_per_week=2)
# Monday 2026-01-05, 02:00 UTC: 10:00 in Shanghai, Sunday 18:00 in Los Angeles.
NOW = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)


def customer(**fields) -> Customer:
    return Customer(**{"do_not_contact": False, "opted_out": frozenset(), "time_zone": "Asia/Shanghai",
                       "recent_contacts": (), **fields})


def test_the_call_window_is_the_customers_own_local_time():
    assert may_contact(customer(), "voice", RULES, NOW).allowed  # 10:00 Monday in Shanghai
    far = may_contact(customer(time_zone="America/Los_Angeles"), "voice", RULES, NOW)
    assert not far.allowed and far.reason == "outside the campaign's hours there (Sun 18:00 America/Los_Angeles)"
    assert far.retry_at == datetime(2026, 1, 5, 9, 0, tzinfo=far.retry_at.tzinfo)  # Monday 09:00 there
    night = may_contact(customer(), "voice", RULES, NOW + timedelta(hours=12))  # 22:00 in Shanghai
    assert not night.allowed and night.reason.startswith("quiet hours there (22:00")


def test_do_not_contact_and_opt_outs_win_at_every_attempt():
    assert may_contact(customer(do_not_contact=True), "sms", RULES, NOW).reason == "on the do-not-contact list"
    assert may_contact(customer(opted_out=frozenset({"sms"})), "sms", RULES, NOW).reason == "opted out of sms"
    assert may_contact(customer(opted_out=frozenset({"sms"})), "voice", RULES, NOW).allowed


def test_the_weekly_cap_counts_contacts_across_campaigns():
    two = (NOW - timedelta(days=1), NOW - timedelta(days=6))
    capped = may_contact(customer(recent_contacts=two), "voice", RULES, NOW)
    assert not capped.allowed and capped.reason == "contacted 2 times in 7 days (cap 2)"
    assert capped.retry_at == NOW + timedelta(days=1)  # when the older one leaves the 7 days
    assert may_contact(customer(recent_contacts=(NOW - timedelta(days=8),) * 5), "voice", RULES, NOW).allowed


def test_a_window_ending_at_midnight_runs_to_the_end_of_the_day():
    window = Window(time(0, 0), time(0, 0))
    zone = "Asia/Shanghai"
    rules = Rules(window=window, quiet=(time(0, 0), time(0, 0)), default_zone=zone)
    late = datetime(2026, 1, 5, 15, 59, 30, tzinfo=UTC)  # 23:59:30 in Shanghai
    assert may_contact(Customer(False, frozenset(), zone, ()), "sms", rules, late).allowed
