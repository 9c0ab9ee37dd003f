import pytest

from cic_engine.identity import (
    InvalidIdentity,
    normalise,
    normalise_chat_id,
    normalise_email,
    normalise_phone,
)
from cic_engine.models import IdentityKind


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+86 138 0013 8000", "CN", "+8613800138000"),
        ("13800138000", "CN", "+8613800138000"),  # a mobile written locally
        ("0086 13800138000", "CN", "+8613800138000"),  # international prefix from China
        ("+86-10-6552-9988", "US", "+861065529988"),  # a country code beats the region
        ("010 6552 9988", "CN", "+861065529988"),  # Beijing landline with trunk prefix
        ("(021) 6321-0000", "CN", "+862163210000"),  # Shanghai
        ("(415) 555-2671", "US", "+14155552671"),
        ("+1 415-555-2671", "CN", "+14155552671"),
        ("1-415-555-2671", "US", "+14155552671"),
        ("  +14155552671  ", None, "+14155552671"),
    ],
)
def test_phone_numbers_normalise_to_e164(raw, region, expected):
    assert normalise_phone(raw, region) == expected


@pytest.mark.parametrize(
    ("raw", "region", "reason"),
    [
        ("", "CN", "empty"),
        ("   ", "CN", "empty"),
        ("12345", "CN", "not a valid phone number in region CN"),
        ("hello", "CN", "not a phone number"),
        ("+86 000 0000 0000", "CN", "not a valid phone number"),
        ("4155552671", None, "not a phone number"),  # no country code and no region to read it in
        ("+1 555 0100", "US", "not a valid phone number"),
        ("anonymous", "CN", "not a phone number"),
    ],
)
def test_invalid_phone_numbers_are_refused_with_a_reason(raw, region, reason):
    with pytest.raises(InvalidIdentity, match=reason):
        normalise_phone(raw, region)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Wang.Li@Example.COM", "wang.li@example.com"),
        ("  li@example.cn ", "li@example.cn"),
        ("王丽 <Wang.Li@Example.com>", "wang.li@example.com"),
        ('"Li, Wang" <wl+support@mail.example.org>', "wl+support@mail.example.org"),
    ],
)
def test_email_addresses_are_lower_cased_bare_addresses(raw, expected):
    assert normalise_email(raw) == expected


@pytest.mark.parametrize("raw", ["", "no-at-sign", "a@b", "two@@example.com", "sp ace@example.com", "a@example.", "<>"])
def test_invalid_email_addresses_are_refused(raw):
    with pytest.raises(InvalidIdentity, match="not an email address"):
        normalise_email(raw)


def test_chat_visitor_ids_are_kept_as_given_but_checked():
    assert normalise_chat_id(" v-8f3a:site.1_x ") == "v-8f3a:site.1_x"
    for bad in ["", "has space", "<script>", "x" * 201]:
        with pytest.raises(InvalidIdentity, match="not a chat visitor id"):
            normalise_chat_id(bad)


def test_normalise_dispatches_on_kind():
    assert normalise(IdentityKind.phone, "13800138000", "CN") == "+8613800138000"
    assert normalise(IdentityKind.email, "A@Example.com") == "a@example.com"
    assert normalise(IdentityKind.chat, "visitor-1") == "visitor-1"
