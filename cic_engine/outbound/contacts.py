"""A campaign's contact list from CSV: every row checked, the good ones kept, every bad one
reported with its row number and the reason, so ops can fix the file and import it again."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..identity import InvalidIdentity, normalise_email, normalise_phone
from ..store.campaigns.lists import CampaignContact

MAX_ROWS = 100_000


@dataclass
class ImportReport:
    contacts: list[CampaignContact] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)  # (row number, what is wrong)

    @property
    def summary(self) -> str:
        return f"{len(self.contacts)} contact(s) imported, {len(self.errors)} row(s) refused"


def import_csv(data: bytes | str, channel: str, region: str) -> ImportReport:
    """Columns: phone and/or email (the one the channel needs is required), name, time_zone
    (IANA, e.g. Asia/Shanghai), and any others. Row numbers count the header as row 1."""
    report = ImportReport()
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            report.errors.append((0, f"the file is not UTF-8 ({exc.reason} at byte {exc.start})"))
            return report
    reader = csv.DictReader(io.StringIO(data))
    columns = [c.strip().lower() for c in reader.fieldnames or []]
    needed = {"voice": "phone", "sms": "phone", "email": "email"}[channel]
    if needed not in columns:
        report.errors.append((1, f"no {needed} column (a {channel} campaign needs one); columns: {', '.join(columns)}"))
        return report
    seen: dict[str, int] = {}
    for number, raw in enumerate(reader, start=2):
        if number - 1 > MAX_ROWS:
            report.errors.append((number, f"more than {MAX_ROWS} rows: the rest is not read"))
            break
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items() if k is not None}
        if None in raw:
            report.errors.append((number, "more values than columns"))
            continue
        problem, contact = _check(number, row, needed, region)
        if problem:
            report.errors.append((number, problem))
            continue
        assert contact is not None
        key = contact.phone if needed == "phone" else contact.email
        assert key is not None
        if key in seen:
            report.errors.append((number, f"the same {needed} as row {seen[key]}"))
            continue
        seen[key] = number
        report.contacts.append(contact)
    return report


def _check(number: int, row: dict[str, str], needed: str, region: str) -> tuple[str | None, CampaignContact | None]:
    phone = email = None
    try:
        if row.get("phone"):
            phone = normalise_phone(row["phone"], region)
        if row.get("email"):
            email = normalise_email(row["email"])
    except InvalidIdentity as exc:
        return str(exc), None
    if needed == "phone" and phone is None:
        return "phone is empty", None
    if needed == "email" and email is None:
        return "email is empty", None
    zone = row.get("time_zone") or None
    if zone:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            return f"unknown time zone {zone!r} (use an IANA name such as Asia/Shanghai)", None
    others = {k: v for k, v in row.items() if k not in ("phone", "email", "name", "time_zone")}
    return None, CampaignContact(number, phone, email, row.get("name") or None, zone, others)
