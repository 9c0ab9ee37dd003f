import pytest

from cic_engine.models import Channel, ContentPart, IdentityKind, InboundContact, Tier
from cic_engine.store import interactions
from cic_engine.store.customers import CustomerNotFound, MergeRefused


def call(external_id, sender):
    return InboundContact(channel=Channel.voice, endpoint="4000", external_id=external_id, sender=sender)


def mail(external_id, sender):
    return InboundContact(
        channel=Channel.email, endpoint="support@company.example", external_id=external_id, sender=sender,
        subject="Order", parts=[ContentPart(body="Where is my order?")],
    )


def test_a_customer_is_found_by_any_identity_written_any_way(engine):
    result = engine.ingest(call("c-1", "13800138000"))
    for kind, raw in [(IdentityKind.phone, "+86 138 0013 8000"), (IdentityKind.phone, "0086-138-0013-8000")]:
        found = engine.find_customer(kind, raw)
        assert found is not None and found.id == result.customer_id
    assert engine.find_customer(IdentityKind.phone, "+1 415 555 2671") is None


def test_merge_moves_identities_interactions_and_history(engine, store):
    phone = engine.ingest(call("m-1", "13800138000"))
    email = engine.ingest(mail("<m-2@example.com>", "Wang.Li@example.com"))
    assert phone.customer_id != email.customer_id  # nothing yet says they are one person

    merged = engine.merge_customers(phone.customer_id, email.customer_id, actor="alice")

    assert {(i.kind, i.value) for i in merged.identities} == {
        ("phone", "+8613800138000"), ("email", "wang.li@example.com"),
    }
    assert engine.find_customer(IdentityKind.email, "WANG.LI@EXAMPLE.COM").id == phone.customer_id
    with store.transaction() as conn:
        assert interactions.for_customer(conn, phone.customer_id) == [phone.interaction_id, email.interaction_id]
        assert interactions.get(conn, email.interaction_id).customer_id == phone.customer_id
    history = engine.customer_history(phone.customer_id)
    kinds = [e.kind for e in history]
    assert kinds.count("message_received") == 2 and kinds.count("customer_created") == 2
    merge_event = history[-1]
    assert merge_event.kind == "customer_merged" and merge_event.actor == "alice"
    assert merge_event.data["merged_customer_id"] == email.customer_id and merge_event.data["interactions_moved"] == 1


def test_the_merged_profile_resolves_to_the_survivor(engine):
    a = engine.ingest(call("s-1", "13800138000"))
    b = engine.ingest(call("s-2", "13900139000"))
    engine.merge_customers(a.customer_id, b.customer_id)
    assert engine.get_customer(b.customer_id).id == a.customer_id
    later = engine.ingest(call("s-3", "13900139000"))
    assert later.customer_id == a.customer_id and not later.new_customer


def test_merge_keeps_the_higher_tier_and_every_opt_out(engine):
    a = engine.ingest(call("t-1", "13800138000"))
    b = engine.ingest(mail("<t-2@example.com>", "vip@example.com"))
    engine.set_tier(b.customer_id, Tier.vip, actor="supervisor")
    engine.set_opt_out(a.customer_id, Channel.sms, True)
    engine.set_opt_out(b.customer_id, Channel.email, True)
    merged = engine.merge_customers(a.customer_id, b.customer_id)
    assert merged.tier is Tier.vip
    assert merged.opted_out_channels == [Channel.email, Channel.sms]


def test_chained_merges_resolve_to_the_last_survivor(engine):
    a, b, c = (engine.ingest(call(f"ch-{n}", num)) for n, num in enumerate(["13800138000", "13900139000", "13700137000"]))
    engine.merge_customers(b.customer_id, c.customer_id)
    engine.merge_customers(a.customer_id, b.customer_id)
    assert engine.get_customer(c.customer_id).id == a.customer_id
    assert len(engine.get_customer(a.customer_id).identities) == 3
    assert [e.kind for e in engine.customer_history(a.customer_id)].count("message_received") == 3


def test_merge_refuses_nonsense(engine):
    a = engine.ingest(call("n-1", "13800138000"))
    b = engine.ingest(call("n-2", "13900139000"))
    with pytest.raises(MergeRefused, match="into itself"):
        engine.merge_customers(a.customer_id, a.customer_id)
    with pytest.raises(CustomerNotFound):
        engine.merge_customers(a.customer_id, 999999)
    engine.merge_customers(a.customer_id, b.customer_id)
    with pytest.raises(MergeRefused, match="already merged"):
        engine.merge_customers(b.customer_id, a.customer_id)


def test_opt_out_and_back_in_is_recorded_on_the_timeline(engine):
    a = engine.ingest(call("o-1", "13800138000"))
    engine.set_opt_out(a.customer_id, Channel.sms, True, actor="sms-gateway")
    engine.set_opt_out(a.customer_id, Channel.sms, True)  # idempotent
    assert engine.get_customer(a.customer_id).opted_out_channels == [Channel.sms]
    engine.set_opt_out(a.customer_id, Channel.sms, False)
    assert engine.get_customer(a.customer_id).opted_out_channels == []
    changes = [e.data for e in engine.customer_history(a.customer_id) if e.kind == "contact_preference_changed"]
    assert [c["opted_out"] for c in changes] == [True, True, False]
